//! The [`AffiliateApi`] port implemented over the typed client (real mode).

use std::collections::HashMap;

use alistach_domain::{
    AffiliateApi, AffiliateLink, AffiliateOrder, ApiMode, Category, DetailsQuery, LinkSource,
    LinkType, OrderPage, OrderQuery, OrderSource, Product, ProductPage, ProductUrl, Promotion,
    PromotionQuery, SearchQuery, SimilarQuery, UpstreamError, ValidationError, platform_time,
};
use async_trait::async_trait;

use crate::model::{
    FeaturedPromoProductsRequest, LinkGenerateRequest, OrderListByIndexRequest,
    ProductDetailRequest, ProductQueryRequest, ProductQueryResponse, SmartMatchRequest,
};
use crate::{AliExpressClient, Error};

impl AliExpressClient {
    fn search_request(query: &SearchQuery) -> Result<ProductQueryRequest, Error> {
        let digits = query.currency().minor_digits();
        let minor = |field: &'static str,
                     price: Option<alistach_domain::Decimal>|
         -> Result<Option<u64>, Error> {
            price
                .map(|p| {
                    p.to_minor_units(digits)
                        .and_then(|u| u64::try_from(u).ok())
                        .ok_or_else(|| {
                            Error::from(ValidationError::new(field, "is not a valid price"))
                        })
                })
                .transpose()
        };
        Ok(ProductQueryRequest {
            keywords: query.keywords().map(str::to_owned),
            category_ids: query.category_ids().to_vec(),
            min_sale_price: minor("min_sale_price", query.min_price())?,
            max_sale_price: minor("max_sale_price", query.max_price())?,
            page_no: Some(query.page_no()),
            page_size: Some(query.page_size()),
            sort: query.sort(),
            ship_to_country: query.ship_to_country(),
            target_currency: Some(query.currency()),
            target_language: Some(query.language()),
            ..Default::default()
        })
    }

    fn page(query: &SearchQuery, r: ProductQueryResponse) -> ProductPage {
        ProductPage {
            products: r.products,
            page_no: query.page_no(),
            page_size: query.page_size(),
            total_records: r.total_record_count,
            total_pages: r.total_page_no,
        }
    }
}

#[async_trait]
impl AffiliateApi for AliExpressClient {
    fn mode(&self) -> ApiMode {
        ApiMode::Real
    }

    fn answer_scope(&self) -> Vec<(&'static str, String)> {
        // The app secret only signs: it shapes no answer, and never leaves the client.
        let config = self.config();
        vec![
            ("app_key", config.app_key.clone()),
            (
                "tracking_id",
                config.tracking_id.clone().unwrap_or_default(),
            ),
            ("gateway_url", config.gateway_url.trim().to_owned()),
        ]
    }

    async fn search_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        let request = Self::search_request(query)?;
        Ok(Self::page(query, self.product_query(&request).await?))
    }

    async fn hot_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        let request = Self::search_request(query)?;
        Ok(Self::page(query, self.hot_product_query(&request).await?))
    }

    async fn product_details(&self, query: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        let request = ProductDetailRequest {
            product_ids: query.ids.clone(),
            country: query.country,
            target_currency: Some(query.currency),
            target_language: Some(query.language),
            ..Default::default()
        };
        Ok(self.product_detail(&request).await?)
    }

    async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
        Ok(self.category_get().await?)
    }

    async fn similar_products(&self, query: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
        let request = SmartMatchRequest {
            product_id: Some(query.product_id),
            page_no: Some(query.page_no),
            country: query.country,
            target_currency: Some(query.currency),
            target_language: Some(query.language),
            ..Default::default()
        };
        Ok(self.smart_match(&request).await?.products)
    }

    async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
        Ok(self
            .featured_promo_get()
            .await?
            .into_iter()
            .map(|p| Promotion {
                name: p.name,
                description: p.description,
                product_count: p.product_count,
            })
            .collect())
    }

    async fn promotion_products(
        &self,
        query: &PromotionQuery,
    ) -> Result<ProductPage, UpstreamError> {
        let request = FeaturedPromoProductsRequest {
            promotion_name: Some(query.promotion_name.clone()),
            category_id: query.category_id,
            page_no: Some(query.page_no),
            page_size: Some(query.page_size),
            sort: query.sort,
            country: query.country,
            target_currency: Some(query.currency),
            target_language: Some(query.language),
            ..Default::default()
        };
        let r = self.featured_promo_products_get(&request).await?;
        Ok(ProductPage {
            products: r.products,
            page_no: query.page_no,
            page_size: query.page_size,
            total_records: r.total_record_count,
            total_pages: r.total_page_no,
        })
    }

    /// Sends each page's source value (the canonical form of product and store pages) and
    /// maps the links back to the sources: by product id for product pages (the platform may
    /// answer another form of the product's URL), by the exact value for other pages.
    async fn generate_links(
        &self,
        sources: &[LinkSource],
        link_type: LinkType,
        tracking_id: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        let links = self
            .link_generate(&LinkGenerateRequest {
                link_type,
                source_values: sources
                    .iter()
                    .map(|s| s.source_value().to_owned())
                    .collect(),
                tracking_id: tracking_id.map(str::to_owned),
                ship_to_country: None,
            })
            .await?;
        let mut by_id = HashMap::new();
        let mut by_value = HashMap::new();
        for link in links {
            if let Ok(url) = ProductUrl::parse(&link.source_value) {
                by_id
                    .entry(url.id)
                    .or_insert_with(|| link.promotion_link.clone());
            }
            by_value
                .entry(link.source_value)
                .or_insert(link.promotion_link);
        }
        Ok(sources
            .iter()
            .filter_map(|source| {
                let link = match source.product_id() {
                    Some(id) => by_id.get(&id),
                    None => by_value.get(source.source_value()),
                };
                link.map(|promotion_link| AffiliateLink {
                    source_url: source.source_value().to_owned(),
                    product_id: source.product_id(),
                    promotion_link: promotion_link.clone(),
                })
            })
            .collect())
    }
}

/// Orders through `order.listbyindex` (cursor paging) and `order.get`, with exact cents and
/// UTC times (the platform's are PST text).
#[async_trait]
impl OrderSource for AliExpressClient {
    fn mode(&self) -> ApiMode {
        ApiMode::Real
    }

    async fn list_orders(
        &self,
        query: &OrderQuery,
        cursor: Option<&str>,
    ) -> Result<OrderPage, UpstreamError> {
        query.validate().map_err(Error::from)?;
        let mut request = OrderListByIndexRequest::new(
            platform_time::format(query.start_ms),
            // The window's end is inclusive to the second.
            platform_time::format(query.end_ms),
            query.status,
        );
        request.time_type = Some(query.time_type);
        request.start_query_index_id = cursor.map(str::to_owned);
        request.page_size = Some(query.page_size);
        let w = self.order_list_by_index_wire(&request).await?;
        let full = w.orders.0.len() >= query.page_size as usize;
        let next_cursor = w
            .max_query_index_id
            .owned()
            .filter(|max| full && Some(max.as_str()) != cursor);
        Ok(OrderPage {
            orders: w
                .orders
                .0
                .iter()
                .filter_map(crate::convert::affiliate_order)
                .collect(),
            next_cursor,
        })
    }

    async fn get_orders(
        &self,
        sub_order_ids: &[u64],
    ) -> Result<Vec<AffiliateOrder>, UpstreamError> {
        Ok(self
            .order_get_wire(sub_order_ids)
            .await?
            .iter()
            .filter_map(crate::convert::affiliate_order)
            .collect())
    }
}
