//! The order and revenue admin endpoints: the synced orders with their status history, the
//! sync on demand, and revenue grouped by day, tracking id, product, category or experiment
//! variant (JSON or CSV).

use alistach_api::types as api;
use alistach_domain::{OrderStatus, platform_time};
use alistach_service::{ServiceError, SyncError, SyncOutcome};
use alistach_store::{
    GroupBy, OrderFilter, OrderPageRequest, RevenueGroup, RevenueReport, StoreError, StoredOrder,
};
use bytes::Bytes;
use hyper::StatusCode;

use super::ctx::Ctx;

use crate::app::{App, Orders};
use crate::convert;
use crate::error::HttpError;
use crate::respond::{HttpResponse, body_response, json, unix_now};

/// Orders per page when the query does not say.
const DEFAULT_PAGE_SIZE: u32 = 50;

fn store_error(e: StoreError) -> HttpError {
    // The text can name the database's host or file: the log gets it, the client does not.
    tracing::warn!(error = %e, "the order store failed");
    HttpError::StoreUnavailable
}

fn sync_error(e: SyncError) -> HttpError {
    match e {
        SyncError::Upstream(u) => HttpError::Service(ServiceError::Upstream(u)),
        SyncError::Store(e) => store_error(e),
        SyncError::LeaseLost => HttpError::Conflict(
            "another instance took the order sync over during this run; the orders stored so far \
             are kept"
                .to_owned(),
        ),
    }
}

/// `from` (inclusive) and `to` (exclusive; a date alone means the end of that day) in Unix ms.
pub(super) fn time_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), HttpError> {
    let rule = "must be a UTC date YYYY-MM-DD or time YYYY-MM-DDTHH:MM:SSZ";
    let from_ms = from
        .map(|t| {
            platform_time::parse_utc(t.trim())
                .map(|(ms, _)| ms)
                .ok_or_else(|| HttpError::field("from", rule))
        })
        .transpose()?;
    let to_ms = to
        .map(|t| {
            platform_time::parse_utc(t.trim())
                .map(|(ms, date_only)| if date_only { ms + 86_400_000 } else { ms })
                .ok_or_else(|| HttpError::field("to", rule))
        })
        .transpose()?;
    if let (Some(f), Some(t)) = (from_ms, to_ms)
        && f >= t
    {
        return Err(HttpError::field("to", "must be after from"));
    }
    Ok((from_ms, to_ms))
}

fn status_filter(status: Option<&str>) -> Result<Option<String>, HttpError> {
    status
        .map(|s| {
            OrderStatus::from_platform(s.trim())
                .map(|s| s.as_str().to_owned())
                .ok_or_else(|| {
                    HttpError::field(
                        "status",
                        "must be Payment Completed, Buyer Confirmed Receipt, Completed Settlement or Invalid",
                    )
                })
        })
        .transpose()
}

fn tracking_filter(tracking_id: Option<&str>) -> Result<Option<String>, HttpError> {
    match tracking_id.map(str::trim) {
        None => Ok(None),
        Some(t) if t.is_empty() || t.chars().count() > 128 => Err(HttpError::field(
            "tracking_id",
            "must be 1 to 128 characters",
        )),
        Some(t) => Ok(Some(t.to_owned())),
    }
}

/// The tracking id a list is limited to: what the query asks, within the caller's scope (a
/// tenant-admin key sees only its tenant's tracking id, which its orders carry).
fn scoped_tracking(ctx: &Ctx<'_>, asked: Option<String>) -> Result<Option<String>, HttpError> {
    match (ctx.scope().tracking_id(), asked) {
        (None, asked) => Ok(asked),
        (Some(own), None) => Ok(Some(own.to_owned())),
        (Some(own), Some(asked)) if asked == own => Ok(Some(asked)),
        (Some(_), Some(_)) => Err(HttpError::Forbidden(
            "a tenant-admin key sees only its own tenant's tracking id",
        )),
    }
}

fn order_item(o: &StoredOrder, history: Vec<api::OrderStatusChange>) -> api::OrderItem {
    let r = &o.record.order;
    api::OrderItem {
        sub_order_id: r.sub_order_id.to_string(),
        order_id: r.order_id.map(|id| id.to_string()),
        status: r.status.clone(),
        tracking_id: r.tracking_id.clone(),
        product_id: r.product_id.map(|id| id.to_string()),
        product_title: r.product_title.clone(),
        category_id: r.category_id.map(|id| id.to_string()),
        product_count: r.product_count,
        paid_amount: convert::money(r.paid_amount.0),
        finished_amount: r.finished_amount.map(|c| convert::money(c.0)),
        estimated_commission: convert::money(r.estimated_paid_commission.0),
        finished_commission: r.estimated_finished_commission.map(|c| convert::money(c.0)),
        commission_rate: r.commission_rate.clone(),
        currency: r.currency.clone(),
        order_time: platform_time::rfc3339(o.order_time_ms),
        paid_at: r.paid_at_ms.map(platform_time::rfc3339),
        finished_at: r.finished_at_ms.map(platform_time::rfc3339),
        custom_parameters: r.custom_parameters.clone(),
        ship_to_country: r.ship_to_country.clone(),
        mock: o.record.mock,
        first_seen_at: platform_time::rfc3339(o.first_seen_ms),
        updated_at: platform_time::rfc3339(o.updated_ms),
        status_history: history,
    }
}

fn group_item(g: &RevenueGroup) -> api::RevenueGroupItem {
    api::RevenueGroupItem {
        key: g.key.clone(),
        orders: g.orders,
        paid_amount: convert::money(g.paid_amount.0),
        estimated_commission: convert::money(g.estimated_commission.0),
        finished_commission: convert::money(g.finished_commission.0),
        currency: g.currency.clone(),
    }
}

/// One CSV field (RFC 4180 quoting); a text a spreadsheet would run as a formula is defused.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn revenue_csv(data: &api::RevenueData) -> String {
    let mut out = String::from(
        "key,currency,orders,paid_amount,estimated_commission,finished_commission\r\n",
    );
    for g in data.groups.iter().chain(&data.totals) {
        out.push_str(&format!(
            "{},{},{},{},{},{}\r\n",
            csv_field(&g.key),
            csv_field(&g.currency),
            g.orders,
            g.paid_amount,
            g.estimated_commission,
            g.finished_commission
        ));
    }
    out
}

impl App {
    fn orders_or_unavailable(&self) -> Result<&Orders, HttpError> {
        self.orders.as_ref().ok_or(HttpError::StoreUnavailable)
    }

    /// The metadata of every admin answer that reads the store: the time, the mode and where
    /// the state is kept (`sqlite`, `postgres`, or `none`).
    pub(super) fn admin_metadata(&self) -> api::AdminMetadata {
        api::AdminMetadata {
            timestamp: unix_now(),
            mock_mode: self.mode.is_mock(),
            store: self
                .orders
                .as_ref()
                .map_or("none", |o| o.store.backend())
                .to_owned(),
        }
    }

    pub(super) async fn admin_orders(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let req: api::OrdersQuery = convert::query_params(ctx.query, &["page", "page_size"])?;
        let orders = self.orders_or_unavailable()?;
        let (from_ms, to_ms) = time_range(req.from.as_deref(), req.to.as_deref())?;
        let page = req.page.unwrap_or(1);
        if !(1..=1_000_000).contains(&page) {
            return Err(HttpError::field("page", "must be between 1 and 1000000"));
        }
        let page_size = req.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=alistach_store::MAX_PAGE_SIZE).contains(&page_size) {
            return Err(HttpError::field(
                "page_size",
                format!("must be between 1 and {}", alistach_store::MAX_PAGE_SIZE),
            ));
        }
        let filter = OrderFilter {
            mock: self.mode.is_mock(),
            from_ms,
            to_ms,
            status: status_filter(req.status.as_deref())?,
            exclude_status: None,
            tracking_id: scoped_tracking(ctx, tracking_filter(req.tracking_id.as_deref())?)?,
            experiment_id: None,
            tracking_ids: None,
        };
        let rows = orders
            .store
            .list_orders(&filter, OrderPageRequest { page, page_size })
            .await
            .map_err(store_error)?;
        let mut items = Vec::with_capacity(rows.orders.len());
        for o in &rows.orders {
            let history = orders
                .store
                .status_history(o.record.order.sub_order_id)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(|c| api::OrderStatusChange {
                    status: c.status,
                    previous: c.previous,
                    observed_at: platform_time::rfc3339(c.observed_at_ms),
                })
                .collect();
            items.push(order_item(o, history));
        }
        let data = api::OrdersData {
            orders: items,
            page,
            page_size,
            total: rows.total,
        };
        Ok(json(&api::OrdersResponse::ok(data, self.admin_metadata())))
    }

    pub(super) async fn admin_orders_sync(&self) -> Result<HttpResponse, HttpError> {
        let orders = self.orders_or_unavailable()?;
        // The orders of tenants with their own app first: their own syncs, their own leases.
        for sync in self
            .tenants
            .as_ref()
            .map(|t| t.own_order_syncs())
            .unwrap_or_default()
        {
            if let Err(e) = sync.run_now().await {
                tracing::warn!(error = %e, "a tenant's own order sync failed");
            }
        }
        match orders.sync.run_now().await.map_err(sync_error)? {
            SyncOutcome::Ran(report) => {
                let data = api::OrderSyncData {
                    fetched: report.fetched,
                    inserted: report.stored.inserted,
                    updated: report.stored.updated,
                    status_changes: report.stored.status_changes,
                    unchanged: report.stored.unchanged,
                    pages: report.pages,
                    started_at: platform_time::rfc3339(report.started_ms),
                    finished_at: platform_time::rfc3339(report.finished_ms),
                };
                Ok(json(&api::OrderSyncResponse::ok(
                    data,
                    self.admin_metadata(),
                )))
            }
            SyncOutcome::Leased { holder } => Err(HttpError::Conflict(format!(
                "another instance ({holder}) is syncing orders; retry when it is done"
            ))),
            // A forced run is never skipped as not due.
            SyncOutcome::NotDue { .. } => Err(HttpError::Internal),
        }
    }

    pub(super) async fn admin_revenue(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let req: api::RevenueQuery = convert::query_params(ctx.query, &["experiment"])?;
        let orders = self.orders_or_unavailable()?;
        let (from_ms, to_ms) = time_range(req.from.as_deref(), req.to.as_deref())?;
        let group_by = match req.group_by.as_deref().map(str::trim) {
            None | Some("day") => GroupBy::Day,
            Some("tracking_id") => GroupBy::TrackingId,
            Some("product") => GroupBy::Product,
            Some("category") => GroupBy::Category,
            Some("variant") => GroupBy::Variant,
            Some(_) => {
                return Err(HttpError::field(
                    "group_by",
                    "must be day, tracking_id, product, category or variant",
                ));
            }
        };
        let csv = match req.format.as_deref().map(str::trim) {
            None | Some("json") => false,
            Some("csv") => true,
            Some(_) => return Err(HttpError::field("format", "must be json or csv")),
        };
        let status = status_filter(req.status.as_deref())?;
        let filter = OrderFilter {
            mock: self.mode.is_mock(),
            from_ms,
            to_ms,
            // Invalid orders earn nothing: left out unless asked for.
            exclude_status: status
                .is_none()
                .then(|| OrderStatus::Invalid.as_str().to_owned()),
            status,
            tracking_id: scoped_tracking(ctx, tracking_filter(req.tracking_id.as_deref())?)?,
            experiment_id: match req.experiment {
                Some(0) => return Err(HttpError::field("experiment", "must be a positive id")),
                id => id,
            },
            tracking_ids: None,
        };
        let groups = orders
            .store
            .revenue(&filter, group_by)
            .await
            .map_err(store_error)?;
        let report = RevenueReport::from_groups(groups);
        let data = api::RevenueData {
            group_by: group_by.as_str().to_owned(),
            groups: report.groups.iter().map(group_item).collect(),
            totals: report.totals.iter().map(group_item).collect(),
        };
        if csv {
            return Ok(body_response(
                StatusCode::OK,
                "text/csv; charset=utf-8",
                Bytes::from(revenue_csv(&data)),
            ));
        }
        Ok(json(&api::RevenueResponse::ok(data, self.admin_metadata())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ranges_parse_dates_and_times() {
        assert_eq!(
            time_range(Some("2023-11-01"), Some("2023-11-01")).unwrap(),
            (Some(1_698_796_800_000), Some(1_698_883_200_000)),
            "a date alone as `to` includes that day"
        );
        assert_eq!(
            time_range(None, Some("2023-11-01T08:00:00Z")).unwrap(),
            (None, Some(1_698_825_600_000))
        );
        assert!(time_range(Some("yesterday"), None).is_err());
        let err = time_range(Some("2023-11-02"), Some("2023-11-01T00:00:00Z")).unwrap_err();
        assert_eq!(err.status(), 422);
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
