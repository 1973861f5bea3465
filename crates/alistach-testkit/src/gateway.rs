//! The fake AliExpress gateway: an in-process HTTP server on 127.0.0.1 that checks requests
//! the way the IOP `/sync` gateway does (parameters, app key, method, timestamp window,
//! signature), answers every affiliate method the client uses from a deterministic catalog,
//! counts requests, and injects scripted faults. It shuts down when dropped.
//!
//! It remembers every promotion link it hands out (link.generate answers, and the links of
//! products and promo codes in product answers), and a test can "buy through" one with
//! [`FakeGateway::purchase`]: the order lands in the order book with the link's tracking id,
//! the sub-ids the link carried (`custom_parameters`), and the commission of its link type.
//!
//! ```no_run
//! # async fn demo() {
//! use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault};
//! let fake = FakeGateway::start(FakeConfig::new("12345678", "helloworld")).await;
//! fake.fail_next(2, Fault::Status(503));
//! // point a client at fake.url() ...
//! assert_eq!(fake.requests("aliexpress.affiliate.product.query"), 0);
//! # }
//! ```

mod catalog;
mod links;
mod methods;
mod orders;
mod verify;

pub use links::IssuedLink;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alistach_domain::{LinkType, SubIds};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use catalog::{Catalog, CatalogProduct};
use links::LinkRegistry;
use methods::{METHODS, Outcome, answer, missing};
use orders::{BookOrder, OrderBook};

/// The largest request body the fake reads.
const MAX_BODY: usize = 1 << 20;
/// Recorded requests kept (oldest dropped first).
const MAX_RECORDED: usize = 10_000;
const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// How the fake is set up.
#[derive(Clone)]
pub struct FakeConfig {
    /// Where to listen; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// The only app key the fake accepts.
    pub app_key: String,
    /// That app's secret, for signature checks.
    pub app_secret: String,
    /// Further apps the fake accepts, `(app key, secret)`, as the platform serves many (a
    /// tenant with its own app).
    pub other_apps: Vec<(String, String)>,
    /// Seed of the generated catalog.
    pub seed: u64,
    /// Products in the catalog.
    pub products: usize,
    /// Largest accepted difference between a request's timestamp and now (the platform's is
    /// 7200 s).
    pub timestamp_window: Duration,
}

impl FakeConfig {
    /// A fake for one app on a free local port, with the default catalog (300 products).
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        FakeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            other_apps: Vec::new(),
            seed: 20_231_114,
            products: 300,
            timestamp_window: Duration::from_secs(7_200),
        }
    }
}

impl FakeConfig {
    /// The secret of `app_key` when the fake accepts that app.
    fn secret_of(&self, app_key: &str) -> Option<&str> {
        if app_key == self.app_key {
            return Some(&self.app_secret);
        }
        self.other_apps
            .iter()
            .find(|(k, _)| k == app_key)
            .map(|(_, s)| s.as_str())
    }
}

impl fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeConfig")
            .field("listen", &self.listen)
            .field("app_key", &self.app_key)
            .field("app_secret", &"***")
            .field(
                "other_apps",
                &self.other_apps.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("seed", &self.seed)
            .field("products", &self.products)
            .field("timestamp_window", &self.timestamp_window)
            .finish()
    }
}

/// A scripted failure, applied before the request is validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status (e.g. 500, 502, 503) and a plain-text body.
    Status(u16),
    /// HTTP 429 with this `Retry-After` value, sent as given (so absurd hints can be tested).
    TooManyRequests {
        /// The header's value, e.g. `"2"` or `"18446744073709551615"`.
        retry_after: String,
    },
    /// Wait this long, then answer normally (a slow gateway).
    Delay(Duration),
    /// HTTP 200 with an HTML error page.
    NonJson,
    /// HTTP 200 with a JSON body cut off in the middle.
    TruncatedJson,
    /// A gateway `error_response` with this type (`ISV`, `ISP`, `SYSTEM`), code and message.
    ErrorResponse {
        /// `ISV`, `ISP` or `SYSTEM`.
        error_type: String,
        /// E.g. `ApiCallLimit`.
        code: String,
        /// E.g. `this ban will last 1 seconds`.
        msg: String,
    },
    /// A business envelope with this `resp_code` (e.g. 401, 402, 404) and message, no result.
    RespCode(i64, String),
    /// The platform's empty result: `resp_code` 405, "The result is empty".
    EmptyResult,
    /// HTTP 200 with exactly this body (recorded fixtures).
    Body(String),
}

impl Fault {
    /// An `ISV` error response.
    pub fn error(code: impl Into<String>, msg: impl Into<String>) -> Fault {
        Fault::ErrorResponse {
            error_type: "ISV".to_owned(),
            code: code.into(),
            msg: msg.into(),
        }
    }

    /// `ApiCallLimit` with a ban of `seconds`.
    pub fn api_call_limit(seconds: u64) -> Fault {
        Fault::error(
            "ApiCallLimit",
            format!("Api access frequency exceeds the limit. this ban will last {seconds} seconds"),
        )
    }

    /// A business `resp_code` with the message the platform uses for it.
    pub fn resp_code(code: i64) -> Fault {
        let msg = match code {
            401 => "This publisher is not registered",
            402 => "Parameter keywords is empty",
            404 => "System Error",
            _ => "Business error",
        };
        Fault::RespCode(code, msg.to_owned())
    }
}

/// An order a test places with [`FakeGateway::place_order`]: money in cents (USD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// The product bought (a catalog product's id lends its title and category).
    pub product_id: u64,
    /// Units bought.
    pub product_count: u64,
    /// Amount paid, in cents.
    pub paid_cents: i64,
    /// Estimated commission, in cents.
    pub commission_cents: i64,
    /// The tracking id that earned it.
    pub tracking_id: String,
    /// The sub-id parameters (JSON text), if the link carried any.
    pub custom_parameters: Option<String>,
    /// When it was paid (PST `yyyy-MM-dd HH:mm:ss`); now when `None`.
    pub paid_time: Option<String>,
    /// Its category, when not the catalog product's.
    pub category_id: Option<u64>,
    /// Its sub-order id, when not the next one.
    pub sub_order_id: Option<u64>,
}

impl NewOrder {
    /// One unit of `product_id` for `paid_cents`, earning `commission_cents`, tracking id
    /// `default`, paid now.
    pub fn new(product_id: u64, paid_cents: i64, commission_cents: i64) -> NewOrder {
        NewOrder {
            product_id,
            product_count: 1,
            paid_cents,
            commission_cents,
            tracking_id: "default".to_owned(),
            custom_parameters: None,
            paid_time: None,
            category_id: None,
            sub_order_id: None,
        }
    }
}

/// The commission rate of a purchase through a normal link (`promotion_link_type` 0), in
/// hundredths of a percent: 7.00 %.
pub const NORMAL_LINK_COMMISSION_BPS: i64 = 700;
/// The commission rate of a purchase through a hot link (`promotion_link_type` 2), in
/// hundredths of a percent: 9.00 %, so a test can tell the link types apart.
pub const HOT_LINK_COMMISSION_BPS: i64 = 900;

/// A purchase through a promotion link, for [`FakeGateway::purchase`]: money in cents (USD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    /// Amount paid, in cents (more than zero).
    pub paid_cents: i64,
    /// Units bought (at least one).
    pub product_count: u64,
    /// The product bought, for a link that names none (a store, campaign or promo-code link);
    /// ignored when the link is for a product.
    pub product_id: Option<u64>,
    /// When it was paid (PST `yyyy-MM-dd HH:mm:ss`); now when `None`.
    pub paid_time: Option<String>,
}

impl Purchase {
    /// One unit for `paid_cents`, paid now.
    pub fn new(paid_cents: i64) -> Purchase {
        Purchase {
            paid_cents,
            product_count: 1,
            product_id: None,
            paid_time: None,
        }
    }
}

/// Why [`FakeGateway::purchase`] placed no order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseError {
    /// The fake never handed out this link (query and fragment aside).
    #[error("the fake gateway never issued the link {0:?}")]
    UnknownLink(String),
    /// The link names no product and the purchase did not say which.
    #[error("the link {0:?} is for no product and the purchase names none")]
    NoProduct(String),
    /// The amount is not positive or the count is zero.
    #[error("a purchase pays more than zero for at least one unit")]
    InvalidAmount,
    /// The paid time is not `yyyy-MM-dd HH:mm:ss`.
    #[error("the paid time {0:?} is not yyyy-MM-dd HH:mm:ss")]
    InvalidPaidTime(String),
}

/// Now as the platform writes order times (PST).
fn now_pst() -> String {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    alistach_domain::platform_time::format(now_ms)
}

/// A new book order (paid now unless `order` says when, status `Payment Completed`, a 7.00 %
/// rate, not hot), the catalog product lending its title, category and image.
fn book_order(
    book: &mut OrderBook,
    product: Option<&CatalogProduct>,
    order: NewOrder,
) -> BookOrder {
    let n = book.orders.len() as u64;
    let order_id = 8_200_000_000_000_000 + n * 1_013;
    let sub_order_id = order.sub_order_id.unwrap_or(order_id + 1);
    let paid_time = order.paid_time.unwrap_or_else(now_pst);
    BookOrder {
        index_id: 0,
        order_id,
        sub_order_id,
        status: "Payment Completed".to_owned(),
        tracking_id: order.tracking_id,
        product_id: order.product_id,
        product_title: product.map_or_else(
            || format!("Product {}", order.product_id),
            |p| p.title.clone(),
        ),
        category_id: order
            .category_id
            .or(product.map(|p| p.child.id))
            .unwrap_or(100_000),
        detail_url: format!("https://www.aliexpress.com/item/{}.html", order.product_id),
        image: product.map_or_else(String::new, |p| p.images[0].clone()),
        count: order.product_count,
        paid_cents: order.paid_cents,
        commission_cents: order.commission_cents,
        commission_rate: "7.00%".to_owned(),
        created_time: paid_time.clone(),
        paid_time,
        receipt_time: None,
        settled_time: None,
        is_new_buyer: false,
        is_hot: false,
        ship_to_country: "US".to_owned(),
        custom_parameters: order.custom_parameters,
    }
}

/// Whether a request's signature verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The sign matched.
    Valid,
    /// The sign did not match, or the sign method is unknown.
    Invalid,
    /// Not checked: a parameter the check needs was missing, or the app key was unknown.
    NotChecked,
}

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET` or `POST`.
    pub http_method: String,
    /// The request path.
    pub path: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// Query and body parameters, merged.
    pub params: BTreeMap<String, String>,
    /// The signature verdict.
    pub signature: SignatureCheck,
    /// The scripted fault applied, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    /// The `method` parameter.
    pub fn api_method(&self) -> Option<&str> {
        self.params.get("method").map(String::as_str)
    }
}

struct ScheduledFault {
    method: Option<String>,
    fault: Fault,
    remaining: usize,
}

#[derive(Default)]
struct State {
    counts: HashMap<String, usize>,
    total: usize,
    recorded: Vec<RecordedRequest>,
    next: Vec<ScheduledFault>,
    always: Option<(Option<String>, Fault)>,
    request_seq: u64,
    orders: OrderBook,
    links: LinkRegistry,
    details: methods::DetailOverrides,
}

struct Shared {
    config: FakeConfig,
    catalog: Catalog,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge every later assertion.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake gateway. Dropping it stops the server and every open connection.
pub struct FakeGateway {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for FakeGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGateway")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGateway {
    /// Starts the fake; panics if it cannot bind (tests bind `127.0.0.1:0`, which does not
    /// fail on a working machine). Programs should use [`FakeGateway::try_start`].
    pub async fn start(config: FakeConfig) -> FakeGateway {
        match Self::try_start(config).await {
            Ok(g) => g,
            Err(e) => panic!("the fake AliExpress gateway could not start: {e}"),
        }
    }

    /// Starts the fake, reporting a bind failure.
    pub async fn try_start(config: FakeConfig) -> io::Result<FakeGateway> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let catalog = Catalog::generate(config.seed, config.products.max(1));
        let state = State {
            orders: OrderBook::seeded(&catalog),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            config,
            catalog,
            state: Mutex::new(state),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(FakeGateway { addr, shared, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `/sync` URL to configure a client with.
    pub fn url(&self) -> String {
        format!("http://{}/sync", self.addr)
    }

    /// `http://127.0.0.1:PORT`, for other paths.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received for an API method (its `method` parameter), faulted ones included.
    pub fn requests(&self, method: &str) -> usize {
        self.shared.state().counts.get(method).copied().unwrap_or(0)
    }

    /// Every request received.
    pub fn total_requests(&self) -> usize {
        self.shared.state().total
    }

    /// The requests received, oldest first.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.shared.state().recorded.clone()
    }

    /// The latest request for an API method.
    pub fn last_request(&self, method: &str) -> Option<RecordedRequest> {
        self.shared
            .state()
            .recorded
            .iter()
            .rev()
            .find(|r| r.api_method() == Some(method))
            .cloned()
    }

    /// Requests whose signature verified.
    pub fn verified_signatures(&self) -> usize {
        self.count_signatures(SignatureCheck::Valid)
    }

    /// Requests whose signature was checked and rejected.
    pub fn rejected_signatures(&self) -> usize {
        self.count_signatures(SignatureCheck::Invalid)
    }

    fn count_signatures(&self, check: SignatureCheck) -> usize {
        self.shared
            .state()
            .recorded
            .iter()
            .filter(|r| r.signature == check)
            .count()
    }

    /// The next `n` requests (any method) get `fault`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.shared.state().next.push(ScheduledFault {
            method: None,
            fault,
            remaining: n,
        });
    }

    /// The next `n` requests for `method` get `fault`.
    pub fn fail_next_for(&self, method: &str, n: usize, fault: Fault) {
        self.shared.state().next.push(ScheduledFault {
            method: Some(method.to_owned()),
            fault,
            remaining: n,
        });
    }

    /// Every request gets `fault` until [`FakeGateway::clear_faults`].
    pub fn fail_always(&self, fault: Fault) {
        self.shared.state().always = Some((None, fault));
    }

    /// Every request for `method` gets `fault` until cleared.
    pub fn fail_always_for(&self, method: &str, fault: Fault) {
        self.shared.state().always = Some((Some(method.to_owned()), fault));
    }

    /// Removes scheduled and permanent faults.
    pub fn clear_faults(&self) {
        let mut state = self.shared.state();
        state.next.clear();
        state.always = None;
    }

    /// Places an order in the book (paid now, status `Payment Completed`, a new index id) and
    /// answers its sub-order id. The product's title, category and commission rate come from
    /// the catalog when it has the product.
    pub fn place_order(&self, order: NewOrder) -> u64 {
        let product = self.shared.catalog.product(order.product_id);
        let mut state = self.shared.state();
        let book = book_order(&mut state.orders, product, order);
        let sub_order_id = book.sub_order_id;
        state.orders.push(book);
        sub_order_id
    }

    /// Buys through `link`, a promotion link the fake handed out, with the platform's sub-id
    /// parameters (`af`, `cn`, `cv`, `dp`) appended to its query as a link carries them: the
    /// query and fragment are stripped to find the issued link, the sub-ids read from the
    /// query. The order is placed like [`FakeGateway::place_order`]'s (status `Payment
    /// Completed`, a new index id) with the link's tracking id, its product (or the
    /// purchase's, for a link that names none), the sub-ids' JSON as `custom_parameters`
    /// (none without sub-ids), `is_hot_product` = `Y` for a hot link, and the commission of
    /// the link type ([`NORMAL_LINK_COMMISSION_BPS`] or [`HOT_LINK_COMMISSION_BPS`] of the
    /// amount, rounded down to the cent). Answers the sub-order id.
    pub fn purchase(&self, link: &str, purchase: Purchase) -> Result<u64, PurchaseError> {
        if purchase.paid_cents <= 0 || purchase.product_count == 0 {
            return Err(PurchaseError::InvalidAmount);
        }
        if let Some(t) = &purchase.paid_time
            && !methods::is_platform_time(t)
        {
            return Err(PurchaseError::InvalidPaidTime(t.chars().take(40).collect()));
        }
        let issued_form = links::issued_form(link);
        let mut state = self.shared.state();
        let Some(issued) = state.links.get(issued_form).cloned() else {
            return Err(PurchaseError::UnknownLink(
                issued_form.chars().take(200).collect(),
            ));
        };
        let Some(product_id) = issued.product_id.or(purchase.product_id) else {
            return Err(PurchaseError::NoProduct(
                issued_form.chars().take(200).collect(),
            ));
        };
        let (hot, bps) = match issued.link_type {
            LinkType::Normal => (false, NORMAL_LINK_COMMISSION_BPS),
            LinkType::Hot => (true, HOT_LINK_COMMISSION_BPS),
        };
        // Positive amounts only, so integer division rounds down; i128 cannot overflow.
        let commission_cents =
            i64::try_from(i128::from(purchase.paid_cents) * i128::from(bps) / 10_000)
                .unwrap_or(i64::MAX);
        let order = NewOrder {
            product_id,
            product_count: purchase.product_count,
            paid_cents: purchase.paid_cents,
            commission_cents,
            tracking_id: issued.tracking_id,
            custom_parameters: SubIds::from_url(link).to_custom_parameters(),
            paid_time: purchase.paid_time,
            category_id: None,
            sub_order_id: None,
        };
        let product = self.shared.catalog.product(product_id);
        let mut book = book_order(&mut state.orders, product, order);
        book.commission_rate = format!("{}.{:02}%", bps / 100, bps % 100);
        book.is_hot = hot;
        let sub_order_id = book.sub_order_id;
        state.orders.push(book);
        Ok(sub_order_id)
    }

    /// How many promotion links the fake remembers having handed out.
    pub fn issued_links(&self) -> usize {
        self.shared.state().links.len()
    }

    /// What a promotion link the fake handed out tracks (query and fragment ignored);
    /// `None` for a link it never issued (or has forgotten: it remembers the latest 100 000).
    pub fn issued_link(&self, link: &str) -> Option<IssuedLink> {
        self.shared
            .state()
            .links
            .get(links::issued_form(link))
            .cloned()
    }

    /// Moves an order to `status` (one of the platform's four), stamping the time of
    /// `Buyer Confirmed Receipt` and `Completed Settlement` with now. False for an unknown
    /// sub-order id or status.
    pub fn set_order_status(&self, sub_order_id: u64, status: &str) -> bool {
        if !catalog::ORDER_STATUSES.contains(&status) {
            return false;
        }
        let now = now_pst();
        let mut state = self.shared.state();
        let Some(o) = state
            .orders
            .orders
            .iter_mut()
            .find(|o| o.sub_order_id == sub_order_id)
        else {
            return false;
        };
        o.status = status.to_owned();
        match status {
            "Buyer Confirmed Receipt" => o.receipt_time = Some(now),
            "Completed Settlement" => {
                o.receipt_time.get_or_insert_with(|| now.clone());
                o.settled_time = Some(now);
            }
            _ => {}
        }
        true
    }

    /// An order's status in the book.
    pub fn order_status(&self, sub_order_id: u64) -> Option<String> {
        self.shared
            .state()
            .orders
            .orders
            .iter()
            .find(|o| o.sub_order_id == sub_order_id)
            .map(|o| o.status.clone())
    }

    /// The catalog's product ids, in catalog order.
    pub fn product_ids(&self) -> Vec<u64> {
        self.shared.catalog.products.iter().map(|p| p.id).collect()
    }

    /// Sets the sale price (USD cents) `productdetail.get` answers for a product from now on.
    pub fn set_price(&self, product_id: u64, cents: i64) {
        self.shared.state().details.prices.insert(product_id, cents);
    }

    /// Makes `productdetail.get` leave a product out (as if no longer sold), or return it
    /// again.
    pub fn set_unavailable(&self, product_id: u64, unavailable: bool) {
        let mut state = self.shared.state();
        if unavailable {
            state.details.unavailable.insert(product_id);
        } else {
            state.details.unavailable.remove(&product_id);
        }
    }

    /// Forgets counts and recorded requests (faults stay).
    pub fn reset_counts(&self) {
        let mut state = self.shared.state();
        state.counts.clear();
        state.total = 0;
        state.recorded.clear();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here so that aborting this task (on drop) also aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&shared), req));
                    // Connection errors (client hung up mid-request) are the client's business.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type HttpResponse = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_response(value: &Value) -> HttpResponse {
    respond(
        StatusCode::OK,
        JSON_CONTENT_TYPE,
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

fn error_body(error_type: &str, code: &str, msg: &str, request_id: &str) -> Value {
    json!({"error_response": {
        "type": error_type,
        "code": code,
        "msg": msg,
        "request_id": request_id,
        "_trace_id_": format!("2140{}", &request_id[4..]),
    }})
}

fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                "request body too large",
            ));
        }
    };

    let is_sync = path == "/sync" && (method == Method::GET || method == Method::POST);
    if let Some(api_path) = path.strip_prefix("/rest/") {
        // System APIs are not emulated; business methods under /rest fail as on the platform.
        let request_id = next_request_id(&shared);
        let message = if api_path.contains('.') {
            "business APIs must be called through /sync"
        } else {
            "this API path is not emulated by the fake gateway"
        };
        return Ok(json_response(&json!({
            "type": "ISV", "code": "InvalidApiPath", "message": message, "request_id": request_id,
        })));
    }
    if !is_sync {
        return Ok(respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("unexpected request: {method} {path}"),
        ));
    }

    let request_id = next_request_id(&shared);
    let params = match merge_params(&query, content_type.as_deref(), &body) {
        Ok(p) => p,
        Err(name) => {
            let p = BTreeMap::new();
            record(
                &shared,
                &method,
                &path,
                content_type.clone(),
                p,
                SignatureCheck::NotChecked,
                None,
            );
            return Ok(json_response(&error_body(
                "ISV",
                "InvalidParameter",
                &format!("The parameter \"{name}\" was sent more than once with different values"),
                &request_id,
            )));
        }
    };
    let signature = check_signature(&shared.config, &params);
    let api_method = params.get("method").cloned().unwrap_or_default();
    let fault = take_fault(&shared, &api_method);
    record(
        &shared,
        &method,
        &path,
        content_type,
        params.clone(),
        signature,
        fault.clone(),
    );

    if let Some(fault) = fault {
        match fault {
            Fault::Delay(d) => tokio::time::sleep(d).await,
            other => return Ok(fault_response(other, &api_method, &request_id)),
        }
    }
    Ok(json_response(&process(
        &shared,
        &params,
        signature,
        &request_id,
    )))
}

fn next_request_id(shared: &Shared) -> String {
    let mut state = shared.state();
    state.request_seq += 1;
    format!("21015{:020}", state.request_seq)
}

fn record(
    shared: &Shared,
    method: &Method,
    path: &str,
    content_type: Option<String>,
    params: BTreeMap<String, String>,
    signature: SignatureCheck,
    fault: Option<Fault>,
) {
    let mut state = shared.state();
    let api_method = params
        .get("method")
        .cloned()
        .unwrap_or_else(|| "<none>".to_owned());
    *state.counts.entry(api_method).or_default() += 1;
    state.total += 1;
    if state.recorded.len() >= MAX_RECORDED {
        state.recorded.remove(0);
    }
    state.recorded.push(RecordedRequest {
        http_method: method.to_string(),
        path: path.to_owned(),
        content_type,
        params,
        signature,
        fault,
    });
}

/// Query-string and urlencoded-body parameters merged; `Err(name)` when a name carries two
/// different values.
fn merge_params(
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    let mut add = |k: String, v: String| -> Result<(), String> {
        match params.get(&k) {
            Some(existing) if *existing != v => Err(k),
            _ => {
                params.insert(k, v);
                Ok(())
            }
        }
    };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        add(k.into_owned(), v.into_owned())?;
    }
    let is_form = content_type.is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if is_form || (content_type.is_none() && !body.is_empty()) {
        for (k, v) in form_urlencoded::parse(body) {
            add(k.into_owned(), v.into_owned())?;
        }
    }
    Ok(params)
}

fn check_signature(config: &FakeConfig, params: &BTreeMap<String, String>) -> SignatureCheck {
    let (Some(sign), Some(app_key)) = (params.get("sign"), params.get("app_key")) else {
        return SignatureCheck::NotChecked;
    };
    let Some(secret) = config.secret_of(app_key) else {
        return SignatureCheck::NotChecked;
    };
    let sign_method = params.get("sign_method").map_or("sha256", String::as_str);
    match verify::expected_sign(sign_method, secret, params) {
        // Strict: the platform's signs are uppercase hex and so must the caller's be.
        Some(expected) if expected == *sign => SignatureCheck::Valid,
        _ => SignatureCheck::Invalid,
    }
}

fn take_fault(shared: &Shared, api_method: &str) -> Option<Fault> {
    let mut state = shared.state();
    let applies = |m: &Option<String>| m.as_deref().is_none_or(|m| m == api_method);
    if let Some(slot) = state
        .next
        .iter_mut()
        .find(|s| s.remaining > 0 && applies(&s.method))
    {
        slot.remaining -= 1;
        let fault = slot.fault.clone();
        state.next.retain(|s| s.remaining > 0);
        return Some(fault);
    }
    match &state.always {
        Some((m, fault)) if applies(m) => Some(fault.clone()),
        _ => None,
    }
}

fn fault_response(fault: Fault, api_method: &str, request_id: &str) -> HttpResponse {
    let key = response_key(if api_method.is_empty() {
        "unknown"
    } else {
        api_method
    });
    match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            respond(
                status,
                "text/plain",
                format!("fake gateway fault: HTTP {code}"),
            )
        }
        Fault::TooManyRequests { retry_after } => {
            let mut response = respond(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain",
                "fake gateway fault: HTTP 429",
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            response
        }
        Fault::NonJson => respond(
            StatusCode::OK,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body>Tengine</body></html>",
        ),
        Fault::TruncatedJson => {
            let full = serde_json::to_string(&json!({key: {"resp_result": {"resp_code": 200, "resp_msg": "Call succeeds",
                "result": {"current_record_count": 1, "products": {"product": [{"product_id": 1005006000000001u64}]}}},
                "request_id": request_id}}))
            .unwrap_or_default();
            // Cut bytes, not chars: a truncated body may well end mid-character.
            let mut bytes = full.into_bytes();
            bytes.truncate(bytes.len() / 2);
            respond(StatusCode::OK, JSON_CONTENT_TYPE, bytes)
        }
        Fault::ErrorResponse {
            error_type,
            code,
            msg,
        } => json_response(&error_body(&error_type, &code, &msg, request_id)),
        Fault::RespCode(code, msg) => json_response(&json!({key: {
            "resp_result": {"resp_code": code, "resp_msg": msg}, "request_id": request_id}})),
        Fault::EmptyResult => json_response(&json!({key: {
            "resp_result": {"resp_code": 405, "resp_msg": "The result is empty"}, "request_id": request_id}})),
        Fault::Body(body) => respond(StatusCode::OK, JSON_CONTENT_TYPE, body),
        Fault::Delay(_) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "delay is not a response",
        ),
    }
}

/// Validation in the platform's order, then the answer (protocol reference §8).
fn process(
    shared: &Shared,
    params: &BTreeMap<String, String>,
    signature: SignatureCheck,
    request_id: &str,
) -> Value {
    let config = &shared.config;
    let isv = |code: &str, msg: &str| error_body("ISV", code, msg, request_id);
    for name in ["sign", "app_key", "method", "timestamp"] {
        if params.get(name).is_none_or(|v| v.is_empty())
            && let Outcome::Error(code, msg) = missing(name)
        {
            return isv(code, &msg);
        }
    }
    let api_method = params.get("method").map(String::as_str).unwrap_or_default();
    if params
        .get("app_key")
        .and_then(|k| config.secret_of(k))
        .is_none()
    {
        return isv("InvalidAppKey", "The specified App Key is invalid");
    }
    if !METHODS.contains(&api_method) {
        return isv(
            "InvalidApiPath",
            &format!("The specified API \"{api_method}\" does not exist"),
        );
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let window_ms = config.timestamp_window.as_millis() as i64;
    match params
        .get("timestamp")
        .and_then(|t| verify::parse_timestamp(t))
    {
        Some(ts) if (now_ms - ts).abs() <= window_ms => {}
        _ => {
            return isv(
                "InvalidTimestamp",
                &format!(
                    "The timestamp is invalid or differs from UTC by more than {} seconds",
                    window_ms / 1000
                ),
            );
        }
    }
    if signature != SignatureCheck::Valid {
        return isv(
            "IncompleteSignature",
            "The request signature does not conform to platform standards",
        );
    }
    let key = response_key(api_method);
    let outcome = match api_method {
        "aliexpress.affiliate.order.list" => {
            orders::order_list(params, &shared.state().orders).unwrap_or_else(|o| o)
        }
        "aliexpress.affiliate.order.listbyindex" => {
            orders::order_list_by_index(params, &shared.state().orders).unwrap_or_else(|o| o)
        }
        "aliexpress.affiliate.order.get" => {
            orders::order_get(params, &shared.state().orders).unwrap_or_else(|o| o)
        }
        _ => {
            let details = shared.state().details.clone();
            let (outcome, issued) = answer(api_method, params, &shared.catalog, &details);
            if !issued.is_empty() {
                let mut state = shared.state();
                for (link, what) in issued {
                    state.links.insert(link, what);
                }
            }
            outcome
        }
    };
    match outcome {
        Outcome::Result(result) => json!({key: {
            "resp_result": {"resp_code": 200, "resp_msg": "Call succeeds", "result": result},
            "request_id": request_id,
        }}),
        Outcome::Empty => json!({key: {
            "resp_result": {"resp_code": 405, "resp_msg": "The result is empty"}, "request_id": request_id}}),
        Outcome::Business(code, msg) => json!({key: {
            "resp_result": {"resp_code": code, "resp_msg": msg}, "request_id": request_id}}),
        Outcome::Error(code, msg) => isv(code, &msg),
    }
}
