//! The tools, in the order `tools/list` gives them: each is a type implementing [`Tool`] (its
//! name, title, the words that tell a model when to use it, the contract type its arguments are
//! read into, and how it runs over the catalog's use cases) and one line in [`TOOLS`]. Arguments
//! are parsed by the same conversions as the REST routes, so a bad argument is the same
//! problem, named by field, returned as a tool error the model can act on.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use alistach_api::types as api;
use alistach_domain::{ApiMode, Listing};
use alistach_service::{Catalog, Experiments, ReadMode};
use rmcp::handler::server::common::{schema_for_input, schema_for_output};
use rmcp::model::{CallToolResult, JsonObject, ToolAnnotations};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::output::{self, Answer, ProductOut};
use crate::config::HttpConfig;
use crate::convert;
use crate::error::HttpError;
use crate::render::{
    CATEGORIES_FORMAT, PAGE_FORMAT, PageData, SIMILAR_FORMAT, SimilarData, render_categories,
    render_page, render_similar,
};

/// What the tools run over: the catalog (the REST routes' use cases), the defaults of the
/// deployment, and the tool list, built once. Cheap to clone: a call under an A/B experiment
/// runs on a clone holding the catalog of the variant chosen for it.
#[derive(Clone)]
pub(crate) struct ToolCtx {
    catalog: Arc<Catalog>,
    config: Arc<HttpConfig>,
    /// What a call leaves out is filled with (the deployment's, or the caller's tenant's).
    defaults: convert::Defaults,
    /// The caller's tenant, as usage analytics counts its searches.
    tenant: Arc<str>,
    mode: ApiMode,
    list: Arc<Vec<rmcp::model::Tool>>,
    experiments: Arc<OnceLock<Arc<Experiments>>>,
    analytics: Arc<OnceLock<Arc<alistach_service::Analytics>>>,
}

/// Where the MCP handler notes the tool an HTTP request called, for usage analytics (the
/// pipeline puts it in the request's extensions and reads it after the answer).
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolNote(pub(crate) Arc<OnceLock<&'static str>>);

/// The analytics route of a call of tool `name`: `callMcp:<tool>` (`None` for no such tool).
pub(crate) fn analytics_route(name: &str) -> Option<&'static str> {
    Some(match name {
        "search_products" => "callMcp:search_products",
        "get_product_details" => "callMcp:get_product_details",
        "get_hot_products" => "callMcp:get_hot_products",
        "list_categories" => "callMcp:list_categories",
        "create_affiliate_links" => "callMcp:create_affiliate_links",
        "find_similar_products" => "callMcp:find_similar_products",
        "list_promotions" => "callMcp:list_promotions",
        "get_promotion_products" => "callMcp:get_promotion_products",
        _ => return None,
    })
}

/// The identity of the client of an MCP request (as the rate limits count it), carried from
/// the HTTP pipeline to the tools for the experiment's variant choice.
#[derive(Clone, Debug)]
pub(crate) struct ClientId(pub(crate) String);

/// The tenant of an MCP request (its key's, or the deployment's implicit one), carried from
/// the HTTP pipeline to the tools: its catalog, experiments and defaults answer the call.
#[derive(Clone, Debug)]
pub(crate) struct TenantCtx(pub(crate) Arc<alistach_service::Tenant>);

impl ToolCtx {
    /// The tools over `catalog`, with the defaults (currency, language, version) of `config`.
    pub(crate) fn new(catalog: Arc<Catalog>, config: HttpConfig) -> Self {
        ToolCtx {
            mode: catalog.mode(),
            catalog,
            defaults: convert::Defaults::of(&config),
            tenant: Arc::from(alistach_domain::TenantId::DEFAULT),
            config: Arc::new(config),
            list: Arc::new(TOOLS.iter().map(|t| (t.describe)()).collect()),
            experiments: Arc::new(OnceLock::new()),
            analytics: Arc::new(OnceLock::new()),
        }
    }

    /// Counts the searches' keywords in `analytics` from now on (set once).
    pub(crate) fn set_analytics(&self, analytics: Arc<alistach_service::Analytics>) {
        let _ = self.analytics.set(analytics);
    }

    /// Runs the tools' calls under `experiments` from now on (set once).
    pub(crate) fn set_experiments(&self, experiments: Arc<Experiments>) {
        let _ = self.experiments.set(experiments);
    }

    /// Every tool, in the deterministic order of [`TOOLS`].
    pub(crate) fn list(&self) -> &[rmcp::model::Tool] {
        &self.list
    }

    /// The service version.
    pub(crate) fn version(&self) -> &str {
        &self.config.version
    }

    /// Runs the tool `name`; `None` when there is no such tool (a protocol error, not a tool
    /// error). `request_id` names the HTTP request in logs.
    /// `client` is the caller's identity: under an experiment, the call runs on the catalog
    /// of the variant chosen for the client and the question (the tool and its arguments).
    pub(crate) async fn call(
        &self,
        name: &str,
        args: Option<JsonObject>,
        request_id: Option<&str>,
        client: Option<&str>,
        tenant: Option<&alistach_service::Tenant>,
    ) -> Option<CallToolResult> {
        let tool = TOOLS.iter().find(|t| t.name == name)?;
        let args = args.unwrap_or_default();
        if let Some(tenant) = tenant {
            let running = tenant.experiments.as_ref().is_some_and(|e| e.is_running());
            let catalog = if running {
                let mut subject = name.as_bytes().to_vec();
                subject.push(0);
                subject.extend(serde_json::to_vec(&args).unwrap_or_default());
                tenant.catalog_for(client.unwrap_or("mcp:stdio"), &subject)
            } else {
                tenant.catalog.clone()
            };
            let view = ToolCtx {
                catalog,
                defaults: convert::Defaults::of(&self.config).for_tenant(&tenant.doc),
                tenant: Arc::from(tenant.id().as_str()),
                ..self.clone()
            };
            return Some((tool.call)(&view, args, request_id).await);
        }
        if let Some(experiments) = self.experiments.get().filter(|e| e.is_running()) {
            let mut subject = name.as_bytes().to_vec();
            subject.push(0);
            subject.extend(serde_json::to_vec(&args).unwrap_or_default());
            let view = ToolCtx {
                catalog: experiments.catalog_for(client.unwrap_or("mcp:stdio"), &subject),
                ..self.clone()
            };
            return Some((tool.call)(&view, args, request_id).await);
        }
        Some((tool.call)(self, args, request_id).await)
    }
}

/// One tool. Adding a tool is a type implementing this and a line in [`TOOLS`].
trait Tool {
    /// The name models call it by (snake_case).
    const NAME: &'static str;
    /// A short human title.
    const TITLE: &'static str;
    /// What it does and when a model should use it.
    const DESCRIPTION: &'static str;
    /// True when the tool answers products and takes the `detail` flag (compact otherwise).
    const DETAIL: bool;
    /// The contract type the arguments are read into; its schema is the `inputSchema`.
    type Args: DeserializeOwned + JsonSchema + Send + 'static;
    /// What a successful call answers; its schema is the `outputSchema`.
    type Output: Serialize + JsonSchema + Send + 'static;
    /// Runs the call.
    fn run(
        ctx: &ToolCtx,
        args: Self::Args,
        detail: bool,
    ) -> impl Future<Output = Result<Self::Output, HttpError>> + Send;
}

type CallFuture<'a> = Pin<Box<dyn Future<Output = CallToolResult> + Send + 'a>>;

/// A row of the tool table.
struct Entry {
    name: &'static str,
    describe: fn() -> rmcp::model::Tool,
    call: for<'a> fn(&'a ToolCtx, JsonObject, Option<&'a str>) -> CallFuture<'a>,
}

const fn entry<T: Tool>() -> Entry {
    Entry {
        name: T::NAME,
        describe: describe::<T>,
        call: call::<T>,
    }
}

/// The tools, in the order `tools/list` gives them.
const TOOLS: &[Entry] = &[
    entry::<SearchProducts>(),
    entry::<GetProductDetails>(),
    entry::<GetHotProducts>(),
    entry::<ListCategories>(),
    entry::<CreateAffiliateLinks>(),
    entry::<FindSimilarProducts>(),
    entry::<ListPromotions>(),
    entry::<GetPromotionProducts>(),
];

const DETAIL_DESCRIPTION: &str = "Return full product records instead of the compact form (id, title, prices, discount, rating, orders, image, promotion_link, shop). Default false; the compact form is enough to recommend a product.";

fn describe<T: Tool>() -> rmcp::model::Tool {
    // A contract type that is not an object is a bug caught by the tests; an empty object
    // schema keeps the list servable meanwhile.
    let mut input = schema_for_input::<T::Args>()
        .map(|s| (*s).clone())
        .unwrap_or_default();
    input.insert("type".into(), "object".into());
    if T::DETAIL
        && let Value::Object(props) = input
            .entry("properties")
            .or_insert_with(|| Value::Object(JsonObject::new()))
    {
        props.insert(
            "detail".into(),
            serde_json::json!({
                "type": "boolean",
                "default": false,
                "description": DETAIL_DESCRIPTION,
            }),
        );
    }
    rmcp::model::Tool::new(T::NAME, T::DESCRIPTION, Arc::new(input))
        .with_title(T::TITLE)
        .with_raw_output_schema(schema_for_output::<T::Output>())
        .with_annotations(
            ToolAnnotations::with_title(T::TITLE)
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(true),
        )
}

fn call<'a, T: Tool>(
    ctx: &'a ToolCtx,
    args: JsonObject,
    request_id: Option<&'a str>,
) -> CallFuture<'a> {
    Box::pin(async move {
        let result = match arguments::<T>(args) {
            Ok((args, detail)) => T::run(ctx, args, detail).await,
            Err(e) => Err(e),
        };
        match result.map(serde_json::to_value) {
            Ok(Ok(value)) => output::success(value),
            Ok(Err(e)) => {
                tracing::error!(tool = T::NAME, request_id, error = %e, "a tool result failed to serialise");
                output::failure(&HttpError::Internal, request_id)
            }
            Err(e) => {
                if e.status().is_server_error() {
                    tracing::warn!(tool = T::NAME, request_id, status = e.status().as_u16(), error = %e, "tool call failed");
                }
                output::failure(&e, request_id)
            }
        }
    })
}

/// The call's arguments as the tool's contract type, and its `detail` flag.
fn arguments<T: Tool>(mut args: JsonObject) -> Result<(T::Args, bool), HttpError> {
    // Models often send `null` for an optional argument they mean to leave out.
    args.retain(|_, v| !v.is_null());
    let detail = match (T::DETAIL, args.remove("detail")) {
        (true, None) => false,
        (true, Some(Value::Bool(b))) => b,
        (true, Some(_)) => return Err(HttpError::field("detail", "must be true or false")),
        (false, Some(_)) => return Err(HttpError::field("detail", "is not a known field")),
        (false, None) => false,
    };
    Ok((convert::from_value(Value::Object(args))?, detail))
}

/// Reads a cached rendering back (the tools share the REST routes' cache entries).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    serde_json::from_slice(bytes).map_err(|e| {
        tracing::error!(error = %e, "a cached rendering does not decode");
        HttpError::Internal
    })
}

// ---------------------------------------------------------------------------------------------
// Products

/// A page of products.
#[derive(Serialize, JsonSchema)]
struct ProductPage {
    /// The products on this page.
    products: Vec<ProductOut>,
    /// Matching products in total.
    total_results: u64,
    /// This page's number, from 1 (ask for page_no + 1 for more).
    page: u32,
    /// Products per page.
    page_size: u32,
    /// Number of pages.
    total_pages: u32,
}

async fn listing(
    ctx: &ToolCtx,
    req: &api::SearchRequest,
    listing: Listing,
    detail: bool,
) -> Result<Answer<ProductPage>, HttpError> {
    // Like the GPT profile's GET search: the platform's relevance order unless a sort is asked.
    let query = convert::search_query(req, ctx.defaults, listing, None)?;
    let served = ctx
        .catalog
        .products(&query, ReadMode::Normal, PAGE_FORMAT, render_page)
        .await?;
    if let (Some(analytics), Some(keywords)) = (ctx.analytics.get(), query.keywords())
        && listing == Listing::Search
    {
        analytics.search(&ctx.tenant, keywords, served.value.items);
    }
    let page: PageData = decode(&served.value.bytes)?;
    Ok(Answer::new(
        ctx.mode,
        served.stale,
        ProductPage::new(page, detail),
    ))
}

impl ProductPage {
    fn new(page: PageData, detail: bool) -> Self {
        ProductPage {
            products: page
                .products
                .into_iter()
                .map(|p| ProductOut::new(p, detail))
                .collect(),
            total_results: page.total_results,
            page: page.current_page,
            page_size: page.page_size,
            total_pages: page.total_pages,
        }
    }
}

struct SearchProducts;

impl Tool for SearchProducts {
    const NAME: &'static str = "search_products";
    const TITLE: &'static str = "Search AliExpress products";
    const DESCRIPTION: &'static str = "Search AliExpress products by keywords and/or category ids, with an optional price range (in target_currency), sort order, currency, language and ship-to country. Use it whenever the user describes something to buy. Each product already carries promotion_link, the affiliate link to share: no separate link call is needed. For trending high-commission items without a specific need use get_hot_products; for a product the user names by link or id use get_product_details.";
    const DETAIL: bool = true;
    type Args = api::SearchRequest;
    type Output = Answer<ProductPage>;

    async fn run(ctx: &ToolCtx, args: Self::Args, detail: bool) -> Result<Self::Output, HttpError> {
        listing(ctx, &args, Listing::Search, detail).await
    }
}

struct GetHotProducts;

impl Tool for GetHotProducts {
    const NAME: &'static str = "get_hot_products";
    const TITLE: &'static str = "Hot AliExpress products";
    const DESCRIPTION: &'static str = "List hot products: items AliExpress promotes with high affiliate commission, optionally narrowed by keywords, category ids and price range. Use it for 'what is trending', 'best deals' or gift-idea requests where the user has no specific product in mind; use search_products for a specific need. Products carry promotion_link, the affiliate link to share.";
    const DETAIL: bool = true;
    type Args = api::SearchRequest;
    type Output = Answer<ProductPage>;

    async fn run(ctx: &ToolCtx, args: Self::Args, detail: bool) -> Result<Self::Output, HttpError> {
        listing(ctx, &args, Listing::Hot, detail).await
    }
}

/// Products found by id or URL.
#[derive(Serialize, JsonSchema)]
struct Details {
    /// The products found, in request order.
    products: Vec<ProductOut>,
    /// Requested ids without details, each with the reason (unknown, or not sold to the
    /// requested country).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing: Vec<api::MissingProduct>,
}

struct GetProductDetails;

impl Tool for GetProductDetails {
    const NAME: &'static str = "get_product_details";
    const TITLE: &'static str = "AliExpress product details";
    const DESCRIPTION: &'static str = "Get current details (price, discount, rating, orders, shop, affiliate promotion_link) of specific AliExpress products, given comma-separated product ids and/or product URLs of any AliExpress page form (desktop, mobile, any country domain). Use it when the user shares a link or an id, or to refresh a product found earlier.";
    const DETAIL: bool = true;
    type Args = api::ProductDetailsQuery;
    type Output = Answer<Details>;

    async fn run(ctx: &ToolCtx, args: Self::Args, detail: bool) -> Result<Self::Output, HttpError> {
        let query = convert::details_query(&args, ctx.defaults)?;
        let served = ctx.catalog.details_report(&query, ReadMode::Normal).await?;
        let report = served.value;
        let products = report
            .products
            .into_iter()
            .map(|p| ProductOut::new(convert::product(p), detail))
            .collect();
        let missing = report
            .missing
            .into_iter()
            .map(convert::missing_product)
            .collect();
        Ok(Answer::new(
            ctx.mode,
            served.stale,
            Details { products, missing },
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Categories

/// A category; its place in the tree says its parent.
#[derive(Serialize, JsonSchema)]
struct CategoryOut {
    /// Category id: pass it to search_products or get_hot_products as category_ids.
    id: String,
    /// Category name.
    name: String,
    /// Subcategories.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    children: Vec<CategoryOut>,
}

impl From<api::Category> for CategoryOut {
    fn from(c: api::Category) -> Self {
        CategoryOut {
            id: c.category_id,
            name: c.category_name,
            children: c.children.into_iter().map(CategoryOut::from).collect(),
        }
    }
}

/// The category tree, or one category's subcategories.
#[derive(Serialize, JsonSchema)]
struct Categories {
    /// The parent asked for, when the call named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    /// Top-level categories with their subcategories, or the parent's subcategories.
    categories: Vec<CategoryOut>,
}

struct ListCategories;

impl Tool for ListCategories {
    const NAME: &'static str = "list_categories";
    const TITLE: &'static str = "AliExpress categories";
    const DESCRIPTION: &'static str = "List AliExpress product categories as a tree of ids and names, or with parent_id only that category's subcategories. Use it to find the category id to pass as category_ids to search_products, get_hot_products or get_promotion_products when keywords alone are too broad.";
    const DETAIL: bool = false;
    type Args = api::CategoriesQuery;
    type Output = Answer<Categories>;

    async fn run(ctx: &ToolCtx, args: Self::Args, _: bool) -> Result<Self::Output, HttpError> {
        let parent = convert::parent_id(&args)?;
        let served = ctx
            .catalog
            .categories(
                parent,
                ReadMode::Normal,
                CATEGORIES_FORMAT,
                render_categories,
            )
            .await?;
        let data: api::CategoriesData = decode(&served.value.bytes)?;
        Ok(Answer::new(
            ctx.mode,
            served.stale,
            Categories {
                parent_id: parent.map(|p| p.to_string()),
                categories: data.categories.into_iter().map(CategoryOut::from).collect(),
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Affiliate links

/// Affiliate links for the given URLs.
#[derive(Serialize, JsonSchema)]
struct Links {
    /// One result per given URL, in request order: its affiliate_url, or the reason it was not
    /// converted.
    results: Vec<api::LinkResult>,
}

struct CreateAffiliateLinks;

impl Tool for CreateAffiliateLinks {
    const NAME: &'static str = "create_affiliate_links";
    const TITLE: &'static str = "Create AliExpress affiliate links";
    const DESCRIPTION: &'static str = "Turn 1 to 50 AliExpress product URLs (any AliExpress page form, or bare product ids) into tracked affiliate links to share with the user. Use it for URLs the user brings from elsewhere; products from search_products, get_hot_products and get_product_details already carry promotion_link.";
    const DETAIL: bool = false;
    type Args = api::AffiliateLinksRequest;
    type Output = Answer<Links>;

    async fn run(ctx: &ToolCtx, args: Self::Args, _: bool) -> Result<Self::Output, HttpError> {
        let request = convert::link_request(&args.urls, args.link_type.as_deref())?;
        let served = ctx.catalog.link_results(&request, ReadMode::Normal).await?;
        let results = served.value.into_iter().map(convert::link_result).collect();
        Ok(Answer::new(ctx.mode, served.stale, Links { results }))
    }
}

// ---------------------------------------------------------------------------------------------
// Similar products and promotions

/// Products similar to a seed product.
#[derive(Serialize, JsonSchema)]
struct Similar {
    /// The seed product's id.
    product_id: String,
    /// The similar products.
    products: Vec<ProductOut>,
    /// How many the platform matched.
    total_results: u64,
    /// This page's number, from 1.
    page: u32,
}

struct FindSimilarProducts;

impl Tool for FindSimilarProducts {
    const NAME: &'static str = "find_similar_products";
    const TITLE: &'static str = "Similar AliExpress products";
    const DESCRIPTION: &'static str = "Find products similar to one product (given by id or any AliExpress product URL): alternatives, cheaper options or related items. Use it when the user likes a product but wants to compare or see other choices; products carry promotion_link, the affiliate link to share.";
    const DETAIL: bool = true;
    type Args = api::SimilarProductsQuery;
    type Output = Answer<Similar>;

    async fn run(ctx: &ToolCtx, args: Self::Args, detail: bool) -> Result<Self::Output, HttpError> {
        let query = convert::similar_query(&args, ctx.defaults)?;
        let render = render_similar(query.product_id, query.page_no);
        let served = ctx
            .catalog
            .similar(&query, ReadMode::Normal, SIMILAR_FORMAT, render)
            .await?;
        let data: SimilarData = decode(&served.value.bytes)?;
        Ok(Answer::new(
            ctx.mode,
            served.stale,
            Similar {
                product_id: data.product_id,
                products: data
                    .products
                    .into_iter()
                    .map(|p| ProductOut::new(p, detail))
                    .collect(),
                total_results: data.total_results,
                page: data.current_page,
            },
        ))
    }
}

/// The featured promotions.
#[derive(Serialize, JsonSchema)]
struct Promotions {
    /// Each promotion; pass its promotion_name to get_promotion_products.
    promotions: Vec<api::PromotionInfo>,
}

struct ListPromotions;

impl Tool for ListPromotions {
    const NAME: &'static str = "list_promotions";
    const TITLE: &'static str = "AliExpress featured promotions";
    const DESCRIPTION: &'static str = "List the featured promotions AliExpress runs now (e.g. Hot Product, Best Seller, New Arrival, weekly deals), with their names. Use it when the user asks for deals, sales or bestsellers, then get_promotion_products with a promotion_name.";
    const DETAIL: bool = false;
    type Args = NoArguments;
    type Output = Answer<Promotions>;

    async fn run(ctx: &ToolCtx, _: Self::Args, _: bool) -> Result<Self::Output, HttpError> {
        let served = ctx.catalog.promotions(ReadMode::Normal).await?;
        Ok(Answer::new(
            ctx.mode,
            served.stale,
            Promotions {
                promotions: served.value.into_iter().map(convert::promotion).collect(),
            },
        ))
    }
}

/// No arguments (`GET /api/promotions` takes none either).
#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

struct GetPromotionProducts;

impl Tool for GetPromotionProducts {
    const NAME: &'static str = "get_promotion_products";
    const TITLE: &'static str = "Products of an AliExpress promotion";
    const DESCRIPTION: &'static str = "List the products of one featured promotion (a promotion_name from list_promotions), optionally in a category, sorted and paged. Use it after list_promotions when the user wants deals or bestsellers rather than a specific product; products carry promotion_link, the affiliate link to share.";
    const DETAIL: bool = true;
    type Args = api::PromotionProductsQuery;
    type Output = Answer<ProductPage>;

    async fn run(ctx: &ToolCtx, args: Self::Args, detail: bool) -> Result<Self::Output, HttpError> {
        let query = convert::promotion_query(&args, ctx.defaults)?;
        let served = ctx
            .catalog
            .promotion_products(&query, ReadMode::Normal, PAGE_FORMAT, render_page)
            .await?;
        let page: PageData = decode(&served.value.bytes)?;
        Ok(Answer::new(
            ctx.mode,
            served.stale,
            ProductPage::new(page, detail),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_analytics_route() {
        for t in TOOLS {
            assert_eq!(
                analytics_route(t.name),
                Some(format!("callMcp:{}", t.name)).as_deref(),
                "{}",
                t.name
            );
        }
        assert_eq!(analytics_route("nope"), None);
    }

    #[test]
    fn tools_are_listed_in_a_fixed_order_with_object_schemas() {
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "search_products",
                "get_product_details",
                "get_hot_products",
                "list_categories",
                "create_affiliate_links",
                "find_similar_products",
                "list_promotions",
                "get_promotion_products"
            ]
        );
        for t in TOOLS {
            let tool = (t.describe)();
            assert_eq!(tool.name, t.name);
            assert_eq!(tool.input_schema["type"], "object", "{}", t.name);
            let out = tool.output_schema.expect("every tool has an output schema");
            assert_eq!(out["type"], "object", "{}", t.name);
            assert!(out["properties"]["mock_mode"].is_object(), "{}", t.name);
            let a = tool.annotations.unwrap();
            assert_eq!(
                (a.read_only_hint, a.open_world_hint),
                (Some(true), Some(true))
            );
        }
    }

    #[test]
    fn the_input_schema_is_the_contract_schema_plus_detail() {
        let search = describe::<SearchProducts>();
        let contract = schema_for_input::<api::SearchRequest>().unwrap();
        let props = search.input_schema["properties"].as_object().unwrap();
        for (name, schema) in contract["properties"].as_object().unwrap() {
            assert_eq!(&props[name], schema, "{name}");
        }
        assert_eq!(props["detail"]["type"], "boolean");
        assert_eq!(
            props.len(),
            contract["properties"].as_object().unwrap().len() + 1
        );
        let links = describe::<CreateAffiliateLinks>();
        assert!(links.input_schema["properties"].get("detail").is_none());
        assert_eq!(links.input_schema["required"], serde_json::json!(["urls"]));
    }

    #[test]
    fn arguments_name_the_bad_field() {
        let args = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let (req, detail) = arguments::<SearchProducts>(args(
            serde_json::json!({"keywords": "usb", "page_size": null, "detail": true}),
        ))
        .unwrap();
        assert_eq!(req.keywords.as_deref(), Some("usb"));
        assert_eq!(req.page_size, None);
        assert!(detail);
        for (v, field) in [
            (serde_json::json!({"keyword": "usb"}), "keyword"),
            (serde_json::json!({"page_size": "ten"}), "page_size"),
            (serde_json::json!({"detail": "yes"}), "detail"),
        ] {
            match arguments::<SearchProducts>(args(v)) {
                Err(HttpError::Unprocessable { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {:?}", other.map(|(_, d)| d)),
            }
        }
        assert!(matches!(
            arguments::<CreateAffiliateLinks>(args(serde_json::json!({"urls": ["1"], "detail": true}))),
            Err(HttpError::Unprocessable { field, .. }) if field == "detail"
        ));
    }
}
