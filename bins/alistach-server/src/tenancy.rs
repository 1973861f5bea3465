//! How a tenant's catalog is made: the deployment's upstream with the tenant's tracking id
//! (through the deployment's guard: one app, one quota), or the tenant's own app (its own
//! client, pacing, circuit and quota), over the deployment's cache with the tenant's
//! lifetimes.

use std::sync::Arc;
use std::time::Duration;

use alistach_aliexpress::{AliExpressClient, ClientConfig};
use alistach_domain::{AffiliateApi, OrderSource};
use alistach_mock::MockCatalog;
use alistach_service::{Catalog, GuardConfig, GuardedApi, TenantCatalogs, TenantDoc, TenantParts};

/// The upstream tenants' ports are made from.
pub enum Upstream {
    /// Real mode: the deployment's client (unpaced; each tenant's is paced by a guard) and
    /// guard, and what a tenant's own app's client needs besides its credentials.
    Real {
        client: AliExpressClient,
        guard: Arc<GuardedApi>,
        max_qps: u32,
    },
    /// Mock mode: the labelled mock catalog (its clones share the mock order book).
    Mock(MockCatalog),
}

/// Makes each tenant's catalog from the deployment's.
pub struct ServerTenantCatalogs {
    base: Arc<Catalog>,
    upstream: Upstream,
}

/// A tenant's upstream; its guard and its order source when it is the tenant's own app.
struct Port {
    api: Arc<dyn AffiliateApi>,
    guard: Option<Arc<GuardedApi>>,
    orders: Option<Arc<dyn OrderSource>>,
}

impl ServerTenantCatalogs {
    /// Tenants' catalogs beside `base`, from `upstream`.
    pub fn new(base: Arc<Catalog>, upstream: Upstream) -> Self {
        ServerTenantCatalogs { base, upstream }
    }

    fn port(&self, doc: &TenantDoc) -> Result<Port, String> {
        match &self.upstream {
            Upstream::Mock(mock) => {
                let mock = mock
                    .clone()
                    .with_tracking_id(&doc.tracking_id)
                    .map_err(|e| e.to_string())?;
                Ok(Port {
                    api: Arc::new(mock),
                    guard: None,
                    orders: None,
                })
            }
            Upstream::Real {
                client,
                guard,
                max_qps,
            } => match &doc.credentials {
                None => {
                    let client = client
                        .with_tracking_id(&doc.tracking_id)
                        .map_err(|e| e.to_string())?;
                    let shared = guard.sharing(|pacer| Arc::new(client.with_pacer(pacer)));
                    Ok(Port {
                        api: Arc::new(shared),
                        guard: None,
                        orders: None,
                    })
                }
                Some(own) => {
                    // Read from the process environment, where the config names it.
                    let secret = std::env::var(&own.app_secret_env)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                        format!(
                            "the environment variable {} (credentials.app_secret_env) is not set",
                            own.app_secret_env
                        )
                    })?;
                    let mut config = ClientConfig::new(own.app_key.clone(), secret);
                    let base = client.config();
                    config.gateway_url = base.gateway_url.clone();
                    config.tracking_id = Some(doc.tracking_id.clone());
                    config.currency = base.currency;
                    config.language = base.language;
                    config.request_timeout = base.request_timeout;
                    let client = AliExpressClient::new(config).map_err(|e| e.to_string())?;
                    // Its orders come through the same paced client: one budget for its app.
                    let mut orders: Option<Arc<dyn OrderSource>> = None;
                    let guard = Arc::new(GuardedApi::paced(
                        GuardConfig {
                            max_qps: own.max_qps.unwrap_or(*max_qps),
                            ..GuardConfig::default()
                        },
                        |pacer| {
                            let paced = client.with_pacer(pacer);
                            orders = Some(Arc::new(paced.clone()));
                            Arc::new(paced)
                        },
                    ));
                    Ok(Port {
                        api: guard.clone(),
                        guard: Some(guard),
                        orders,
                    })
                }
            },
        }
    }
}

impl TenantCatalogs for ServerTenantCatalogs {
    fn build(&self, doc: &TenantDoc) -> Result<TenantParts, String> {
        let port = self.port(doc)?;
        let ttls = match &doc.cache_ttl {
            Some(t) => t.apply(self.base.ttls()),
            None => *self.base.ttls(),
        };
        Ok(TenantParts {
            catalog: Arc::new(
                self.base
                    .for_tenant(port.api, port.guard, &doc.tracking_id, ttls),
            ),
            orders: port.orders,
        })
    }
}

/// How often each instance reloads the tenants and keys (a key revoked elsewhere stops
/// working here within this) and records the keys' last use.
pub const TENANT_RELOAD: Duration = Duration::from_secs(5);
