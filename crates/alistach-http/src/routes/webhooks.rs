//! The webhook admin endpoints: endpoints (add, list, read, change, delete), the test event,
//! and deliveries (list with their attempts, retry).

use std::sync::Arc;

use alistach_api::types as api;
use alistach_api::{RouteId, path_parameters, routes::route_of};
use alistach_domain::platform_time;
use alistach_service::{EndpointChange, ServiceError, WebhookAdminError, WebhookEndpoints};
use alistach_store::{Attempt, Delivery, Endpoint};
use hyper::StatusCode;

use super::ctx::Ctx;
use crate::app::App;
use crate::convert;
use crate::error::HttpError;
use crate::respond::{HttpResponse, body_response, json, to_json};

/// Deliveries listed when the query does not say.
const DEFAULT_DELIVERIES: u32 = 50;

fn webhook_error(e: WebhookAdminError) -> HttpError {
    match e {
        WebhookAdminError::Invalid(v) => HttpError::Service(ServiceError::Invalid(v)),
        WebhookAdminError::NotFound(why) => HttpError::Service(ServiceError::NotFound(why)),
        WebhookAdminError::Store(e) => {
            // The text can name the database's host or file: only the log gets it.
            tracing::warn!(error = %e, "the webhook store failed");
            HttpError::StoreUnavailable
        }
        WebhookAdminError::Random => HttpError::Internal,
    }
}

fn info(e: &Endpoint, secret: bool) -> api::WebhookInfo {
    api::WebhookInfo {
        id: e.id,
        url: e.url.clone(),
        events: e.events.clone(),
        description: e.description.clone(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        failing_since: e.failing_since_ms.map(platform_time::rfc3339),
        created_at: platform_time::rfc3339(e.created_at_ms),
        updated_at: platform_time::rfc3339(e.updated_at_ms),
        secret: secret.then(|| e.secret.expose().to_owned()),
    }
}

fn delivery(d: &Delivery, attempts: &[Attempt]) -> api::DeliveryInfo {
    api::DeliveryInfo {
        id: d.id,
        event_id: d.event.id.clone(),
        event_type: d.event.event_type.clone(),
        state: d.state.as_str().to_owned(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at_ms.map(platform_time::rfc3339),
        created_at: platform_time::rfc3339(d.created_at_ms),
        delivered_at: d.delivered_at_ms.map(platform_time::rfc3339),
        attempt_log: attempts
            .iter()
            .map(|a| api::AttemptInfo {
                at: platform_time::rfc3339(a.at_ms),
                status: a.status,
                latency_ms: a.latency_ms,
                error: a.error.clone(),
            })
            .collect(),
    }
}

fn events(list: Vec<api::WebhookEventType>) -> Vec<String> {
    list.into_iter().map(|e| e.as_str().to_owned()).collect()
}

/// The ids in the path (404 when one is not a positive number: nothing can have it).
fn ids(route: RouteId, ctx: &Ctx<'_>) -> Result<Vec<u64>, HttpError> {
    path_parameters(route_of(route).path, ctx.path)
        .and_then(|v| {
            v.into_iter()
                .map(|id| id.parse::<u64>().ok().filter(|id| *id > 0))
                .collect::<Option<Vec<u64>>>()
        })
        .ok_or_else(|| {
            HttpError::Service(ServiceError::NotFound(
                "no webhook endpoint or delivery has this id; GET /api/admin/webhooks lists them"
                    .to_owned(),
            ))
        })
}

impl App {
    fn webhooks_or_unavailable(&self) -> Result<&Arc<WebhookEndpoints>, HttpError> {
        self.webhooks.as_ref().ok_or(HttpError::StoreUnavailable)
    }

    fn webhook_answer(&self, status: StatusCode, e: &Endpoint, secret: bool) -> HttpResponse {
        body_response(
            status,
            "application/json",
            to_json(&api::WebhookResponse::ok(
                info(e, secret),
                self.admin_metadata(),
            )),
        )
    }

    /// Answers the webhook admin routes.
    pub(super) async fn webhook_route(
        &self,
        route: RouteId,
        ctx: &Ctx<'_>,
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        let hooks = self.webhooks_or_unavailable()?;
        // An endpoint of another tenant is unknown to a tenant-admin key.
        if !matches!(route, RouteId::Webhooks | RouteId::WebhookCreate) {
            let id = ids(route, ctx)?[0];
            let owner = hooks.get(id).await.map_err(webhook_error)?;
            if !ctx.scope().covers(&owner.tenant) {
                return Err(webhook_error(WebhookAdminError::NotFound(format!(
                    "no webhook endpoint {id}"
                ))));
            }
        }
        match route {
            RouteId::Webhooks => {
                let list = hooks
                    .list(ctx.scope().filter())
                    .await
                    .map_err(webhook_error)?;
                let data = api::WebhookList {
                    webhooks: list.iter().map(|e| info(e, false)).collect(),
                };
                Ok(json(&api::WebhooksResponse::ok(
                    data,
                    self.admin_metadata(),
                )))
            }
            RouteId::WebhookCreate => {
                let req: api::NewWebhookRequest = convert::json_body(body, &[])?;
                let created = hooks
                    .create(
                        &ctx.scope().owner(),
                        &req.url,
                        &events(req.events),
                        req.description.as_deref(),
                    )
                    .await
                    .map_err(webhook_error)?;
                tracing::info!(webhook = created.id, events = ?created.events, "webhook endpoint added");
                Ok(self.webhook_answer(StatusCode::CREATED, &created, true))
            }
            RouteId::Webhook => {
                let id = ids(route, ctx)?[0];
                let e = hooks.get(id).await.map_err(webhook_error)?;
                Ok(self.webhook_answer(StatusCode::OK, &e, false))
            }
            RouteId::WebhookUpdate => {
                let id = ids(route, ctx)?[0];
                let req: api::WebhookUpdateRequest = convert::json_body(body, &[])?;
                let change = EndpointChange {
                    url: req.url,
                    events: req.events.map(events),
                    description: req.description,
                    enabled: req.enabled,
                };
                let e = hooks.update(id, change).await.map_err(webhook_error)?;
                Ok(self.webhook_answer(StatusCode::OK, &e, false))
            }
            RouteId::WebhookDelete => {
                let id = ids(route, ctx)?[0];
                hooks.delete(id).await.map_err(webhook_error)?;
                Ok(json(&api::WebhookDeletedResponse::ok(
                    api::WebhookDeleted { id, deleted: true },
                    self.admin_metadata(),
                )))
            }
            RouteId::WebhookTest => {
                let id = ids(route, ctx)?[0];
                let d = hooks.test(id).await.map_err(webhook_error)?;
                Ok(json(&api::DeliveryResponse::ok(
                    delivery(&d, &[]),
                    self.admin_metadata(),
                )))
            }
            RouteId::WebhookDeliveries => {
                let id = ids(route, ctx)?[0];
                let req: api::DeliveriesQuery = convert::query_params(ctx.query, &["limit"])?;
                let limit = req.limit.unwrap_or(DEFAULT_DELIVERIES);
                if !(1..=500).contains(&limit) {
                    return Err(HttpError::field("limit", "must be between 1 and 500"));
                }
                let list = hooks.deliveries(id, limit).await.map_err(webhook_error)?;
                let data = api::DeliveryList {
                    deliveries: list.iter().map(|(d, a)| delivery(d, a)).collect(),
                };
                Ok(json(&api::DeliveriesResponse::ok(
                    data,
                    self.admin_metadata(),
                )))
            }
            RouteId::WebhookRetry => {
                let path = ids(route, ctx)?;
                let d = hooks.retry(path[0], path[1]).await.map_err(webhook_error)?;
                Ok(json(&api::DeliveryResponse::ok(
                    delivery(&d, &[]),
                    self.admin_metadata(),
                )))
            }
            _ => Err(HttpError::Internal),
        }
    }
}
