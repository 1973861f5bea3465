//! The A/B experiment admin endpoints: start, list, report (per variant, with intervals and
//! tests against the control) and stop.

use std::sync::Arc;

use alistach_api::types as api;
use alistach_api::{RouteId, path_parameter, routes::route_of};
use alistach_domain::{Cents, LinkType, platform_time};
use alistach_policy::{Estimate, TestResult, compare_variants};
use alistach_service::{ExperimentError, ExperimentReport, Experiments, ServiceError};
use alistach_store::{Allocation, Experiment, NewExperiment, NewVariant};
use hyper::StatusCode;

use super::ctx::Ctx;
use crate::app::App;
use crate::error::HttpError;
use crate::respond::{HttpResponse, body_response, json, to_json};

fn experiment_error(e: ExperimentError) -> HttpError {
    match e {
        ExperimentError::Invalid(v) => HttpError::Service(ServiceError::Invalid(v)),
        ExperimentError::Conflict(why) => HttpError::Conflict(why),
        ExperimentError::Store(e) => {
            // The text can name the database's host or file: only the log gets it.
            tracing::warn!(error = %e, "the experiment store failed");
            HttpError::StoreUnavailable
        }
    }
}

const fn link_type_name(t: LinkType) -> &'static str {
    match t {
        LinkType::Normal => "normal",
        LinkType::Hot => "hot",
    }
}

fn info(e: &Experiment) -> api::ExperimentInfo {
    api::ExperimentInfo {
        id: e.id,
        name: e.name.clone(),
        status: if e.running() { "running" } else { "stopped" }.to_owned(),
        allocation: e.allocation.as_str().to_owned(),
        min_share: f64::from(e.min_share_permille) / 1000.0,
        created_at: platform_time::rfc3339(e.created_at_ms),
        stopped_at: e.stopped_at_ms.map(platform_time::rfc3339),
        variants: e
            .variants
            .iter()
            .map(|v| api::VariantInfo {
                name: v.name.clone(),
                weight: v.weight,
                link_type: link_type_name(v.link_type).to_owned(),
                tracking_id: v.tracking_id.clone(),
            })
            .collect(),
    }
}

/// The experiment asked for, in the store's terms; rules that need no store are checked by
/// the service ([`alistach_service::validate_experiment`]).
fn new_experiment(req: api::NewExperimentRequest) -> Result<NewExperiment, HttpError> {
    let allocation = match req.allocation.as_deref().map(str::trim) {
        None | Some("fixed") => Allocation::Fixed,
        Some("bandit") => Allocation::Bandit,
        Some(_) => return Err(HttpError::field("allocation", "must be fixed or bandit")),
    };
    let min_share_permille = match req.min_share {
        None => Allocation::DEFAULT_MIN_SHARE_PERMILLE
            .min(1000 / u32::try_from(req.variants.len().max(1)).unwrap_or(u32::MAX)),
        Some(share) if share.is_finite() && (0.0..=0.5).contains(&share) => {
            (share * 1000.0).round() as u32
        }
        Some(_) => return Err(HttpError::field("min_share", "must be between 0 and 0.5")),
    };
    let mut variants = Vec::with_capacity(req.variants.len());
    for v in req.variants {
        let link_type = match v.link_type.as_deref().map(str::trim) {
            None | Some("normal") => LinkType::Normal,
            Some("hot") => LinkType::Hot,
            Some(_) => {
                return Err(HttpError::field(
                    "variants.link_type",
                    "must be normal or hot",
                ));
            }
        };
        variants.push(NewVariant {
            name: v.name,
            weight: v.weight.unwrap_or(1),
            link_type,
            tracking_id: v.tracking_id,
        });
    }
    Ok(NewExperiment {
        // The experiments of the caller's tenant set it.
        tenant: alistach_domain::TenantId::default_tenant(),
        name: req.name,
        allocation,
        min_share_permille,
        variants,
    })
}

fn interval(e: &Estimate) -> api::Interval {
    api::Interval {
        low: e.low,
        high: e.high,
    }
}

fn test(t: &TestResult) -> api::SignificanceTest {
    api::SignificanceTest {
        p_value: t.p_value,
        significant: t.significant,
    }
}

/// Cents per click as decimal money text with four places (`0.0734`).
fn per_click(cents: i64, clicks: u64) -> Option<String> {
    if clicks == 0 {
        return None;
    }
    // Ten-thousandths of the currency unit, rounded half away from zero.
    let scaled = i128::from(cents) * 100;
    let clicks = i128::from(clicks);
    let q = (scaled.abs() + clicks / 2) / clicks * scaled.signum();
    let sign = if q < 0 { "-" } else { "" };
    let q = q.abs();
    Some(format!("{sign}{}.{:04}", q / 10_000, q % 10_000))
}

fn report(r: &ExperimentReport) -> api::ExperimentReportData {
    let counts: Vec<_> = r.outcomes.iter().map(|o| o.counts).collect();
    let stats = compare_variants(&counts);
    let variants = r
        .outcomes
        .iter()
        .zip(&stats)
        .zip(&r.shares)
        .map(|((o, s), share)| {
            let c = &o.counts;
            api::VariantReport {
                name: o.variant.name.clone(),
                link_type: link_type_name(o.variant.link_type).to_owned(),
                tracking_id: o.variant.tracking_id.clone(),
                share: *share,
                links: c.links,
                clicks: c.clicks,
                orders: c.orders,
                conversion: s.conversion.map(|e| e.value),
                conversion_interval: s.conversion.as_ref().map(interval),
                paid_amount: Cents(c.paid_cents).to_decimal().to_string(),
                commission: Cents(c.commission_cents).to_decimal().to_string(),
                epc: per_click(c.commission_cents, c.clicks),
                // Cents per click, as currency units.
                epc_interval: s.epc.as_ref().map(|e| api::Interval {
                    low: e.low / 100.0,
                    high: e.high / 100.0,
                }),
                currency: o.currency.clone(),
                other_currencies: o.other_currencies.clone(),
                versus_control: s.vs_control.map(|v| api::VersusControl {
                    conversion: v.conversion.as_ref().map(test),
                    epc: v.epc.as_ref().map(test),
                }),
            }
        })
        .collect();
    api::ExperimentReportData {
        experiment: info(&r.experiment),
        variants,
    }
}

impl App {
    /// The experiments of the caller's tenant (the deployment's for the super-admin).
    fn experiments_for(&self, ctx: &Ctx<'_>) -> Result<Arc<Experiments>, HttpError> {
        match ctx.who.tenant() {
            Some(t) => t.experiments.clone(),
            None => self.experiments.clone(),
        }
        .ok_or(HttpError::StoreUnavailable)
    }

    /// The experiment id of a path like `/api/admin/experiments/{id}…` (404 when it is not
    /// a positive number: no experiment can have it).
    fn experiment_id(route: RouteId, ctx: &Ctx<'_>) -> Result<u64, HttpError> {
        path_parameter(route_of(route).path, ctx.path)
            .and_then(|id| id.parse::<u64>().ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| not_found(ctx.path))
    }

    pub(super) async fn experiments_list(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let experiments = self.experiments_for(ctx)?;
        let list = experiments
            .list(ctx.scope().filter())
            .await
            .map_err(experiment_error)?;
        let data = api::ExperimentList {
            experiments: list.iter().map(info).collect(),
        };
        Ok(json(&api::ExperimentsResponse::ok(
            data,
            self.admin_metadata(),
        )))
    }

    pub(super) async fn experiment_create(
        &self,
        ctx: &Ctx<'_>,
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        let experiments = self.experiments_for(ctx)?;
        let req: api::NewExperimentRequest = crate::convert::json_body(body, &[])?;
        let new = new_experiment(req)?;
        // A tenant's variants earn for its own tracking id: its orders are its by that id.
        if let Some(own) = ctx.scope().tracking_id()
            && new
                .variants
                .iter()
                .any(|v| v.tracking_id.as_deref().is_some_and(|t| t != own))
        {
            return Err(HttpError::field(
                "variants.tracking_id",
                format!("must be the tenant's own tracking id ({own}) or left out"),
            ));
        }
        let created = experiments.create(new).await.map_err(experiment_error)?;
        tracing::info!(
            experiment = created.id,
            tenant = %created.tenant,
            name = %created.name,
            variants = created.variants.len(),
            "experiment started"
        );
        Ok(body_response(
            StatusCode::CREATED,
            "application/json",
            to_json(&api::ExperimentResponse::ok(
                info(&created),
                self.admin_metadata(),
            )),
        ))
    }

    pub(super) async fn experiment_report(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let experiments = self.experiments_for(ctx)?;
        let id = Self::experiment_id(RouteId::ExperimentReport, ctx)?;
        let found = experiments.report(id).await.map_err(experiment_error)?;
        let r = found
            .filter(|r| ctx.scope().covers(&r.experiment.tenant))
            .ok_or_else(|| not_found(ctx.path))?;
        Ok(json(&api::ExperimentReportResponse::ok(
            report(&r),
            self.admin_metadata(),
        )))
    }

    pub(super) async fn experiment_stop(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let experiments = self.experiments_for(ctx)?;
        let id = Self::experiment_id(RouteId::ExperimentStop, ctx)?;
        let found = experiments
            .get(id)
            .await
            .map_err(experiment_error)?
            .filter(|e| ctx.scope().covers(&e.tenant))
            .ok_or_else(|| not_found(ctx.path))?;
        // Stopped by its tenant's experiments, which then stop handing out its variants.
        let owner = if &found.tenant == experiments.tenant() {
            experiments
        } else {
            ctx.tenants
                .and_then(|t| t.get(&found.tenant))
                .and_then(|t| t.experiments.clone())
                .ok_or(HttpError::StoreUnavailable)?
        };
        let stopped = owner.stop(id).await.map_err(experiment_error)?;
        let e = stopped.ok_or_else(|| not_found(ctx.path))?;
        tracing::info!(experiment = e.id, "experiment stopped");
        Ok(json(&api::ExperimentResponse::ok(
            info(&e),
            self.admin_metadata(),
        )))
    }
}

fn not_found(path: &str) -> HttpError {
    let id = path
        .trim_start_matches("/api/admin/experiments/")
        .trim_end_matches("/stop");
    HttpError::Service(ServiceError::NotFound(format!(
        "no experiment has the id {id:?}; GET /api/admin/experiments lists them"
    )))
}

#[cfg(test)]
mod tests {
    use super::per_click;

    #[test]
    fn earnings_per_click_are_exact_decimal_text() {
        assert_eq!(per_click(0, 0), None);
        assert_eq!(per_click(734, 100), Some("0.0734".to_owned()));
        assert_eq!(per_click(1, 3), Some("0.0033".to_owned()));
        assert_eq!(per_click(2, 3), Some("0.0067".to_owned()));
        assert_eq!(per_click(123_456, 1), Some("1234.5600".to_owned()));
        assert_eq!(per_click(-5, 2), Some("-0.0250".to_owned()));
    }
}
