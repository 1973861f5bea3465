//! The fake's order book and the three order methods (protocol reference §4.10):
//! `order.list` (page numbers), `order.listbyindex` (cursor paging by query index id) and
//! `order.get` (by sub-order id). Money in integer cents, times as PST text, the sub-id
//! parameters spelled `custom_parameters` in the lists and `customer_parameters` in `get`.
//! Tests place orders and move them through statuses.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::catalog::{Catalog, ORDER_STATUSES, base62};
use super::methods::{Outcome, invalid, missing};

/// The time types `time_type` accepts.
const TIME_TYPES: &[&str] = &[
    "Payment Completed Time",
    "Buyer Confirmed Receipt Time",
    "Completed Settlement Time",
];

/// One sub-order in the book.
#[derive(Clone, Debug)]
pub(crate) struct BookOrder {
    /// Position in the book: what `order.listbyindex` pages by.
    pub(crate) index_id: u64,
    pub(crate) order_id: u64,
    pub(crate) sub_order_id: u64,
    pub(crate) status: String,
    pub(crate) tracking_id: String,
    pub(crate) product_id: u64,
    pub(crate) product_title: String,
    pub(crate) category_id: u64,
    pub(crate) detail_url: String,
    pub(crate) image: String,
    pub(crate) count: u64,
    pub(crate) paid_cents: i64,
    pub(crate) commission_cents: i64,
    pub(crate) commission_rate: String,
    pub(crate) created_time: String,
    pub(crate) paid_time: String,
    pub(crate) receipt_time: Option<String>,
    pub(crate) settled_time: Option<String>,
    pub(crate) is_new_buyer: bool,
    pub(crate) is_hot: bool,
    pub(crate) ship_to_country: String,
    pub(crate) custom_parameters: Option<String>,
}

impl BookOrder {
    fn finished(&self) -> bool {
        self.status == "Buyer Confirmed Receipt" || self.status == "Completed Settlement"
    }

    /// The time `time_type` names (`None`: the order has not reached it).
    fn time(&self, time_type: &str) -> Option<&str> {
        match time_type {
            "Buyer Confirmed Receipt Time" => self.receipt_time.as_deref(),
            "Completed Settlement Time" => self.settled_time.as_deref(),
            _ => Some(&self.paid_time),
        }
    }

    /// The documented object; `parameters_key` is `custom_parameters` or `customer_parameters`.
    fn to_json(&self, fields: Option<&HashSet<String>>, parameters_key: &str) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("order_id", json!(self.order_id));
        put("sub_order_id", json!(self.sub_order_id));
        put("order_status", json!(self.status));
        put("tracking_id", json!(self.tracking_id));
        put("category_id", json!(self.category_id));
        put("product_id", json!(self.product_id));
        put("product_title", json!(self.product_title));
        put("product_detail_url", json!(self.detail_url));
        put("product_main_image_url", json!(self.image));
        put("product_count", json!(self.count));
        // Money as integer minor units, as a live capture shows.
        put("paid_amount", json!(self.paid_cents));
        put("paid_time", json!(self.paid_time));
        put("created_time", json!(self.created_time));
        put("commission_rate", json!(self.commission_rate));
        put("estimated_paid_commission", json!(self.commission_cents));
        if self.finished() {
            put("finished_amount", json!(self.paid_cents));
            put(
                "finished_time",
                json!(self.receipt_time.as_deref().unwrap_or(&self.paid_time)),
            );
            put(
                "estimated_finished_commission",
                json!(self.commission_cents),
            );
        }
        if let Some(settled) = &self.settled_time {
            put("completed_settlement_time", json!(settled));
        }
        put(
            "is_new_buyer",
            json!(if self.is_new_buyer { "Y" } else { "N" }),
        );
        put("is_hot_product", json!(if self.is_hot { "Y" } else { "N" }));
        put("is_affiliate_product", json!("Y"));
        put("order_type", json!("global"));
        put("order_platform", json!("affiliate_platform"));
        put("settled_currency", json!("USD"));
        put("ship_to_country", json!(self.ship_to_country));
        if let Some(p) = &self.custom_parameters {
            put(parameters_key, json!(p));
        }
        if let Some(f) = fields {
            m.retain(|k, _| f.contains(k));
        }
        Value::Object(m)
    }
}

/// Every order the fake knows, in index order.
#[derive(Debug, Default)]
pub(crate) struct OrderBook {
    pub(crate) orders: Vec<BookOrder>,
    next_index: u64,
}

impl OrderBook {
    /// The catalog's deterministic orders (November 2023).
    pub(crate) fn seeded(catalog: &Catalog) -> OrderBook {
        let mut book = OrderBook {
            orders: Vec::new(),
            next_index: 1_000,
        };
        for o in &catalog.orders {
            let p = &catalog.products[o.product];
            let finished = o.status != "Payment Completed" && o.status != "Invalid";
            book.push(BookOrder {
                index_id: 0,
                order_id: o.order_id,
                sub_order_id: o.sub_order_id,
                status: o.status.to_owned(),
                tracking_id: "default".to_owned(),
                product_id: p.id,
                product_title: p.title.clone(),
                category_id: p.child.id,
                detail_url: p.detail_url(),
                image: p.images[0].clone(),
                count: o.count,
                paid_cents: o.paid_cents,
                commission_cents: o.commission_cents,
                commission_rate: format!(
                    "{}.{}0%",
                    p.commission_tenths / 10,
                    p.commission_tenths % 10
                ),
                created_time: o.created_time.clone(),
                paid_time: o.paid_time.clone(),
                receipt_time: finished.then(|| o.paid_time.clone()),
                settled_time: (o.status == "Completed Settlement").then(|| o.paid_time.clone()),
                is_new_buyer: o.is_new_buyer,
                is_hot: p.hot_commission_tenths > 0,
                ship_to_country: o.ship_to_country.to_owned(),
                custom_parameters: Some(format!("{{\"sub\":\"{}\"}}", base62(o.order_id, 4))),
            });
        }
        book
    }

    /// Adds an order, giving it the next index id.
    pub(crate) fn push(&mut self, mut order: BookOrder) {
        self.next_index += 1;
        order.index_id = self.next_index;
        self.orders.push(order);
    }
}

struct Filter<'a> {
    start: &'a str,
    end: &'a str,
    status: &'a str,
    time_type: &'a str,
    fields: Option<HashSet<String>>,
    page_size: usize,
    simplify: bool,
}

fn get<'a>(params: &'a std::collections::BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn filter(params: &std::collections::BTreeMap<String, String>) -> Result<Filter<'_>, Outcome> {
    let start = get(params, "start_time").ok_or_else(|| missing("start_time"))?;
    let end = get(params, "end_time").ok_or_else(|| missing("end_time"))?;
    let status = get(params, "status").ok_or_else(|| missing("status"))?;
    if !super::methods::is_platform_time(start) {
        return Err(invalid("start_time"));
    }
    if !super::methods::is_platform_time(end) {
        return Err(invalid("end_time"));
    }
    if !ORDER_STATUSES.contains(&status) {
        return Err(invalid("status"));
    }
    let time_type = get(params, "time_type").unwrap_or("Payment Completed Time");
    if !TIME_TYPES.contains(&time_type) {
        return Err(invalid("time_type"));
    }
    let page_size = match get(params, "page_size") {
        None => 20,
        // The platform caps page_size rather than refusing larger values.
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| invalid("page_size"))?
            .clamp(1, 50),
    };
    Ok(Filter {
        start,
        end,
        status,
        time_type,
        fields: get(params, "fields").map(|f| f.split(',').map(|s| s.trim().to_owned()).collect()),
        page_size,
        simplify: get(params, "simplify") == Some("true"),
    })
}

impl Filter<'_> {
    fn selects(&self, o: &BookOrder) -> bool {
        o.status == self.status
            && o.time(self.time_type)
                .is_some_and(|t| t >= self.start && t <= self.end)
    }

    fn list(&self, orders: Vec<Value>) -> Value {
        if self.simplify {
            Value::Array(orders)
        } else {
            json!({ "order": orders })
        }
    }
}

/// `aliexpress.affiliate.order.list`: page numbers.
pub(crate) fn order_list(
    params: &std::collections::BTreeMap<String, String>,
    book: &OrderBook,
) -> Result<Outcome, Outcome> {
    let f = filter(params)?;
    let page_no = match get(params, "page_no") {
        None => 1,
        Some(v) => v.parse::<usize>().map_err(|_| invalid("page_no"))?,
    };
    if page_no == 0 {
        return Err(invalid("page_no"));
    }
    let matches: Vec<&BookOrder> = book.orders.iter().filter(|o| f.selects(o)).collect();
    let total = matches.len();
    let total_pages = total.div_ceil(f.page_size);
    if total == 0 || page_no > total_pages {
        return Ok(Outcome::Empty);
    }
    let orders: Vec<Value> = matches
        .iter()
        .skip((page_no - 1) * f.page_size)
        .take(f.page_size)
        .map(|o| o.to_json(f.fields.as_ref(), "custom_parameters"))
        .collect();
    Ok(Outcome::Result(json!({
        "current_page_no": page_no,
        "current_record_count": orders.len(),
        "total_page_no": total_pages,
        "total_record_count": total,
        "orders": f.list(orders),
    })))
}

/// `aliexpress.affiliate.order.listbyindex`: the page after `start_query_index_id`.
pub(crate) fn order_list_by_index(
    params: &std::collections::BTreeMap<String, String>,
    book: &OrderBook,
) -> Result<Outcome, Outcome> {
    let f = filter(params)?;
    let after = match get(params, "start_query_index_id") {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| invalid("start_query_index_id"))?,
    };
    let page: Vec<&BookOrder> = book
        .orders
        .iter()
        .filter(|o| o.index_id > after && f.selects(o))
        .take(f.page_size)
        .collect();
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(Outcome::Empty);
    };
    let (min, max) = (first.index_id, last.index_id);
    let orders: Vec<Value> = page
        .iter()
        .map(|o| o.to_json(f.fields.as_ref(), "custom_parameters"))
        .collect();
    Ok(Outcome::Result(json!({
        "current_record_count": orders.len(),
        "min_query_index_id": min.to_string(),
        "max_query_index_id": max.to_string(),
        "orders": f.list(orders),
    })))
}

/// `aliexpress.affiliate.order.get`: sub-order ids, comma-separated.
pub(crate) fn order_get(
    params: &std::collections::BTreeMap<String, String>,
    book: &OrderBook,
) -> Result<Outcome, Outcome> {
    let ids = get(params, "order_ids").ok_or_else(|| missing("order_ids"))?;
    let ids: Vec<u64> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map_err(|_| invalid("order_ids")))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() || ids.len() > 50 {
        return Err(invalid("order_ids"));
    }
    let fields: Option<HashSet<String>> =
        get(params, "fields").map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let orders: Vec<Value> = book
        .orders
        .iter()
        .filter(|o| ids.contains(&o.sub_order_id))
        .map(|o| o.to_json(fields.as_ref(), "customer_parameters"))
        .collect();
    if orders.is_empty() {
        return Ok(Outcome::Empty);
    }
    let simplify = get(params, "simplify") == Some("true");
    Ok(Outcome::Result(json!({
        "current_record_count": orders.len(),
        "orders": if simplify { Value::Array(orders) } else { json!({ "order": orders }) },
    })))
}
