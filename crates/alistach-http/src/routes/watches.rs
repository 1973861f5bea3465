//! The product watch admin endpoints: add, list, delete.

use std::sync::Arc;

use alistach_api::types as api;
use alistach_api::{RouteId, path_parameters, routes::route_of};
use alistach_domain::platform_time;
use alistach_service::{ServiceError, WatchAdminError, WatchRequest, Watches};
use alistach_store::Watch;
use hyper::StatusCode;

use super::ctx::Ctx;
use crate::app::App;
use crate::convert;
use crate::error::HttpError;
use crate::respond::{HttpResponse, body_response, json, to_json};

fn watch_error(e: WatchAdminError) -> HttpError {
    match e {
        WatchAdminError::Invalid(v) => HttpError::Service(ServiceError::Invalid(v)),
        WatchAdminError::NotFound(why) => HttpError::Service(ServiceError::NotFound(why)),
        WatchAdminError::Store(e) => {
            // The text can name the database's host or file: only the log gets it.
            tracing::warn!(error = %e, "the watch store failed");
            HttpError::StoreUnavailable
        }
    }
}

fn info(w: &Watch) -> api::WatchInfo {
    api::WatchInfo {
        id: w.id,
        product_id: w.product_id.to_string(),
        price_drop_percent: w.price_drop_percent,
        target_price: w.target_price.clone(),
        currency: w.currency.clone(),
        ship_to_country: w.ship_to_country.clone(),
        created_at: platform_time::rfc3339(w.created_at_ms),
        baseline_price: w.state.baseline_price.clone(),
        last_price: w.state.last_price.clone(),
        available: w.state.available,
        checked_at: w.state.checked_at_ms.map(platform_time::rfc3339),
    }
}

/// The watch id in the path (404 when it is not a positive number: nothing can have it).
fn id(route: RouteId, ctx: &Ctx<'_>) -> Result<u64, HttpError> {
    path_parameters(route_of(route).path, ctx.path)
        .and_then(|v| v.first().and_then(|id| id.parse::<u64>().ok()))
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            HttpError::Service(ServiceError::NotFound(
                "no watch has this id; GET /api/admin/watches lists them".to_owned(),
            ))
        })
}

impl App {
    fn watches_or_unavailable(&self) -> Result<&Arc<Watches>, HttpError> {
        self.watches.as_ref().ok_or(HttpError::StoreUnavailable)
    }

    /// Answers the watch admin routes.
    pub(super) async fn watch_route(
        &self,
        route: RouteId,
        ctx: &Ctx<'_>,
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        let watches = self.watches_or_unavailable()?;
        match route {
            RouteId::Watches => {
                let list = watches
                    .list(ctx.scope().filter())
                    .await
                    .map_err(watch_error)?;
                let data = api::WatchList {
                    watches: list.iter().map(info).collect(),
                };
                Ok(json(&api::WatchesResponse::ok(data, self.admin_metadata())))
            }
            RouteId::WatchCreate => {
                let req: api::NewWatchRequest = convert::json_body(body, &[])?;
                let product = match (req.product_id, req.url) {
                    (Some(id), None) => id,
                    (None, Some(url)) => url,
                    (Some(_), Some(_)) => {
                        return Err(HttpError::field(
                            "product_id",
                            "give product_id or url, not both",
                        ));
                    }
                    (None, None) => {
                        return Err(HttpError::field("product_id", "give product_id or url"));
                    }
                };
                let request = WatchRequest {
                    product,
                    price_drop_percent: req.price_drop_percent,
                    target_price: req.target_price,
                    currency: req.currency,
                    ship_to_country: req.ship_to_country,
                };
                let created = watches
                    .create(&ctx.scope().owner(), &request)
                    .await
                    .map_err(watch_error)?;
                tracing::info!(
                    watch = created.id,
                    product = created.product_id,
                    "product watch added"
                );
                Ok(body_response(
                    StatusCode::CREATED,
                    "application/json",
                    to_json(&api::WatchResponse::ok(
                        info(&created),
                        self.admin_metadata(),
                    )),
                ))
            }
            RouteId::WatchDelete => {
                let id = id(route, ctx)?;
                // Another tenant's watch is unknown to a tenant-admin.
                let watch = watches.get(id).await.map_err(watch_error)?;
                if !ctx.scope().covers(&watch.tenant) {
                    return Err(watch_error(WatchAdminError::NotFound(format!(
                        "no watch {id}"
                    ))));
                }
                watches.delete(id).await.map_err(watch_error)?;
                Ok(json(&api::WatchDeletedResponse::ok(
                    api::WatchDeleted { id, deleted: true },
                    self.admin_metadata(),
                )))
            }
            _ => Err(HttpError::Internal),
        }
    }
}
