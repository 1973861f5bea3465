//! A/B experiments of link strategies: the use cases behind `/api/admin/experiments`, and the
//! choice of a variant for each answer that hands out links.
//!
//! At most one experiment runs at a time (the store refuses a second). While it runs, every
//! answer that hands out links is served by one variant's catalog ([`Catalog::for_variant`]):
//! its links are made the variant's way and tagged with its sub-ids, its tracked links name
//! it, its answers are cached under its own keys, and the links it hands out are counted. The
//! variant is chosen by a hash of the experiment, the client and the question
//! ([`Experiments::catalog_for`]): the same client asking the same thing gets the same links,
//! on every instance, with no state per client. With `allocation: bandit` the shares follow
//! Thompson sampling on earnings per click, recomputed on every refresh from the store (each
//! instance computes the same shares from the same counts); a share moving changes some
//! assignments, which is the point.
//!
//! [`Experiments::run`] keeps every instance in step: it reloads the running experiment (so
//! an experiment created or stopped on another instance takes effect within one refresh),
//! recomputes shares and writes the counted links to the store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use alistach_domain::{ApiMode, Clock, TenantId, ValidationError};
use alistach_policy::{VariantCounts, bandit_shares, fixed_shares, pick, unit_from_key};
use alistach_store::{
    Allocation, Experiment, NewExperiment, Store, StoreError, Variant, VariantOutcome,
};

use crate::Catalog;

/// The most variants an experiment has.
pub const MAX_VARIANTS: usize = 8;
/// The longest experiment name, in characters.
pub const MAX_EXPERIMENT_NAME_CHARS: usize = 100;
/// The longest variant name (it is the `cv` sub-id), in characters.
pub const MAX_VARIANT_NAME_CHARS: usize = 32;
/// The largest variant weight.
pub const MAX_WEIGHT: u32 = 1000;
/// Thompson-sampling draws per share computation.
const BANDIT_DRAWS: u32 = 4000;

/// Why an experiment use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The experiment asked for breaks a rule (names the field).
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// Another experiment runs.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ExperimentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(why) => ExperimentError::Conflict(why),
            other => ExperimentError::Store(other),
        }
    }
}

/// Checks an experiment before it is stored: a name, two to [`MAX_VARIANTS`] variants with
/// unique names of letters, digits, `-` and `_` (they travel as the `cv` sub-id), weights of
/// 1 to [`MAX_WEIGHT`], tracking ids of the same characters, and a bandit floor below an
/// equal share.
pub fn validate(new: &NewExperiment) -> Result<(), ValidationError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_EXPERIMENT_NAME_CHARS {
        return Err(ValidationError::new(
            "name",
            format!("must be 1 to {MAX_EXPERIMENT_NAME_CHARS} characters"),
        ));
    }
    if new.variants.len() < 2 || new.variants.len() > MAX_VARIANTS {
        return Err(ValidationError::new(
            "variants",
            format!("must list 2 to {MAX_VARIANTS} variants"),
        ));
    }
    let token = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    for (i, v) in new.variants.iter().enumerate() {
        if !token(&v.name, MAX_VARIANT_NAME_CHARS) {
            return Err(ValidationError::new(
                "variants.name",
                format!(
                    "must be 1 to {MAX_VARIANT_NAME_CHARS} letters, digits, '-' or '_' (it is \
                     the cv sub-id of the variant's links)"
                ),
            ));
        }
        if new.variants[..i].iter().any(|w| w.name == v.name) {
            return Err(ValidationError::new(
                "variants.name",
                format!("must be unique; '{}' appears twice", v.name),
            ));
        }
        if !(1..=MAX_WEIGHT).contains(&v.weight) {
            return Err(ValidationError::new(
                "variants.weight",
                format!("must be between 1 and {MAX_WEIGHT}"),
            ));
        }
        if v.tracking_id.as_deref().is_some_and(|t| !token(t, 64)) {
            return Err(ValidationError::new(
                "variants.tracking_id",
                "must be 1 to 64 letters, digits, '-' or '_'",
            ));
        }
    }
    let equal = 1000 / new.variants.len() as u32;
    if new.allocation == Allocation::Bandit && new.min_share_permille > equal {
        return Err(ValidationError::new(
            "min_share",
            format!(
                "must be at most 1/{} (an equal share) with {} variants",
                new.variants.len(),
                new.variants.len()
            ),
        ));
    }
    Ok(())
}

/// A variant as it serves.
struct Arm {
    variant: Variant,
    catalog: Arc<Catalog>,
    /// Links handed out since the last flush to the store.
    links: Arc<AtomicU64>,
}

/// The running experiment, its variants' catalogs and their shares of traffic.
struct Running {
    experiment: Experiment,
    arms: Vec<Arm>,
    shares: Vec<f64>,
}

/// An experiment with its variants' counts and shares, as the admin API reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentReport {
    /// The experiment.
    pub experiment: Experiment,
    /// Per variant, in the experiment's order: what the store counted, in the variant's main
    /// currency (the one with most orders; other currencies' orders are left out of the
    /// sums and named in `other_currencies`).
    pub outcomes: Vec<VariantTotals>,
    /// The share of traffic each variant gets now (sums to 1; all zero once stopped).
    pub shares: Vec<f64>,
}

/// One variant's counts, in one currency.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantTotals {
    /// The variant.
    pub variant: Variant,
    /// Its counts.
    pub counts: VariantCounts,
    /// The currency of the money counts (`None` without orders).
    pub currency: Option<String>,
    /// Currencies of orders left out of the sums.
    pub other_currencies: Vec<String>,
}

/// The experiments use cases and the variant choice.
pub struct Experiments {
    store: Arc<dyn Store>,
    base: Arc<Catalog>,
    clock: Arc<dyn Clock>,
    running: RwLock<Option<Arc<Running>>>,
    /// Whether an experiment runs: read on every request, so that without one a request
    /// costs one relaxed load (no identity, no hashing, no lock).
    active: AtomicBool,
    /// One refresh at a time: a periodic refresh that read the store before an experiment was
    /// created must not replace, after it, what the creating request's refresh loaded.
    refreshing: tokio::sync::Mutex<()>,
    /// Whose experiments these are.
    tenant: TenantId,
}

impl std::fmt::Debug for Experiments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Experiments").finish_non_exhaustive()
    }
}

fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

impl Experiments {
    /// Experiments kept in `store`, whose variants are made from `base` (the deployment's
    /// catalog). Call [`Experiments::refresh`] (or run [`Experiments::run`]) to load the
    /// running experiment.
    pub fn new(store: Arc<dyn Store>, base: Arc<Catalog>, clock: Arc<dyn Clock>) -> Self {
        Experiments {
            store,
            base,
            clock,
            running: RwLock::new(None),
            active: AtomicBool::new(false),
            refreshing: tokio::sync::Mutex::new(()),
            tenant: TenantId::default_tenant(),
        }
    }

    /// The same experiments for `tenant` (the deployment's implicit tenant by default): it
    /// creates, runs and stops that tenant's experiments, its variants made from `base`, the
    /// tenant's catalog.
    pub fn for_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = tenant;
        self
    }

    /// Whose experiments these are.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// One experiment, of any tenant (`None` for an unknown id).
    pub async fn get(&self, id: u64) -> Result<Option<Experiment>, ExperimentError> {
        Ok(self.store.experiment(id).await?)
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX)
    }

    fn mock(&self) -> bool {
        self.base.mode() == ApiMode::Mock
    }

    fn current(&self) -> Option<Arc<Running>> {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True while an experiment runs (as of the last refresh): only then does
    /// [`Experiments::catalog_for`] need the client and the question.
    pub fn is_running(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The catalog that answers `client`'s question `subject` (any bytes that name the
    /// question: the request's query or body): the deployment's catalog while no
    /// experiment runs, else the catalog of the variant the hash of (experiment, client,
    /// subject) picks by the variants' shares.
    pub fn catalog_for(&self, client: &str, subject: &[u8]) -> Arc<Catalog> {
        let guard = self.running.read().unwrap_or_else(|e| e.into_inner());
        let Some(running) = guard.as_ref() else {
            return self.base.clone();
        };
        let mut h = 0xcbf2_9ce4_8422_2325_u64;
        fnv1a(&mut h, &running.experiment.id.to_be_bytes());
        fnv1a(&mut h, client.as_bytes());
        fnv1a(&mut h, &[0xff]);
        fnv1a(&mut h, subject);
        let i = pick(&running.shares, unit_from_key(h));
        running.arms[i.min(running.arms.len() - 1)].catalog.clone()
    }

    /// Validates and stores a new experiment, which runs from now on (on this instance at
    /// once, on others within a refresh).
    pub async fn create(&self, new: NewExperiment) -> Result<Experiment, ExperimentError> {
        validate(&new)?;
        let mut new = new;
        new.name = new.name.trim().to_owned();
        new.tenant = self.tenant.clone();
        let experiment = self.store.create_experiment(&new, self.now_ms()).await?;
        self.refresh().await?;
        Ok(experiment)
    }

    /// Stops an experiment (`None` for an unknown id): its variants hand out no more links;
    /// its counts stay.
    pub async fn stop(&self, id: u64) -> Result<Option<Experiment>, ExperimentError> {
        // Only this tenant's: another's is unknown here.
        match self.store.experiment(id).await? {
            Some(e) if e.tenant == self.tenant => {}
            _ => return Ok(None),
        }
        let stopped = self.store.stop_experiment(id, self.now_ms()).await?;
        self.refresh().await?;
        Ok(stopped)
    }

    /// Every experiment of `tenant` (of every tenant when `None`), newest first.
    pub async fn list(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<Experiment>, ExperimentError> {
        Ok(self.store.experiments(tenant).await?)
    }

    /// An experiment with its counts and shares (`None` for an unknown id). Links handed
    /// out on this instance are written to the store first, so the report includes them.
    pub async fn report(&self, id: u64) -> Result<Option<ExperimentReport>, ExperimentError> {
        self.flush_links().await?;
        let Some(experiment) = self.store.experiment(id).await? else {
            return Ok(None);
        };
        let outcomes = self
            .store
            .variant_outcomes(&experiment, self.mock())
            .await?;
        let totals = totals(&experiment, &outcomes);
        let shares = if experiment.running() {
            shares(&experiment, &totals)
        } else {
            vec![0.0; experiment.variants.len()]
        };
        Ok(Some(ExperimentReport {
            experiment,
            outcomes: totals,
            shares,
        }))
    }

    /// Reloads the running experiment from the store and recomputes its shares. A variant
    /// keeps its catalog (and its count of links not yet written) while its experiment runs.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let _turn = self.refreshing.lock().await;
        let found = self.store.running_experiment(&self.tenant).await?;
        let previous = self.current();
        let next = match found {
            None => None,
            Some(experiment) => {
                let totals = match experiment.allocation {
                    Allocation::Fixed => Vec::new(),
                    Allocation::Bandit => {
                        let outcomes = self
                            .store
                            .variant_outcomes(&experiment, self.mock())
                            .await?;
                        totals(&experiment, &outcomes)
                    }
                };
                let shares = shares(&experiment, &totals);
                let arms = match &previous {
                    Some(p) if p.experiment.id == experiment.id => p
                        .arms
                        .iter()
                        .map(|a| Arm {
                            variant: a.variant.clone(),
                            catalog: a.catalog.clone(),
                            links: a.links.clone(),
                        })
                        .collect(),
                    _ => experiment
                        .variants
                        .iter()
                        .map(|v| {
                            let links = Arc::new(AtomicU64::new(0));
                            Arm {
                                variant: v.clone(),
                                catalog: Arc::new(self.base.for_variant(
                                    experiment.id,
                                    v,
                                    links.clone(),
                                )),
                                links,
                            }
                        })
                        .collect(),
                };
                Some(Arc::new(Running {
                    experiment,
                    arms,
                    shares,
                }))
            }
        };
        let changed =
            previous.as_ref().map(|p| p.experiment.id) != next.as_ref().map(|n| n.experiment.id);
        self.active.store(next.is_some(), Ordering::Relaxed);
        *self.running.write().unwrap_or_else(|e| e.into_inner()) = next;
        if changed && let Some(p) = previous {
            // The replaced experiment's last counts.
            write_links(&*self.store, &p.arms).await?;
        }
        Ok(())
    }

    /// Writes the links handed out since the last write to the store (kept for the next
    /// write when the store fails).
    pub async fn flush_links(&self) -> Result<(), StoreError> {
        match self.current() {
            Some(running) => write_links(&*self.store, &running.arms).await,
            None => Ok(()),
        }
    }

    /// Refreshes every `every` and writes counted links, until `stop` completes; then writes
    /// what is left.
    pub async fn run(
        self: Arc<Self>,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = &mut stop => break,
                _ = tick.tick() => self.tick().await,
            }
        }
        self.finish().await;
    }

    /// One turn of [`Experiments::run`]: the links counted go to the store, the running
    /// experiment comes back from it (failures logged, retried at the next turn).
    pub async fn tick(&self) {
        if let Err(e) = self.flush_links().await {
            tracing::warn!(tenant = %self.tenant, error = %e, "experiment link counts not written; kept for the next try");
        }
        if let Err(e) = self.refresh().await {
            tracing::warn!(tenant = %self.tenant, error = %e, "experiments not refreshed");
        }
    }

    /// The last links counted go to the store (at shutdown).
    pub async fn finish(&self) {
        if let Err(e) = self.flush_links().await {
            tracing::warn!(tenant = %self.tenant, error = %e, "experiment link counts lost at shutdown: the store failed");
        }
    }
}

async fn write_links(store: &dyn Store, arms: &[Arm]) -> Result<(), StoreError> {
    let counts: Vec<(u32, u64)> = arms
        .iter()
        .map(|a| (a.variant.id, a.links.swap(0, Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
        .collect();
    if counts.is_empty() {
        return Ok(());
    }
    if let Err(e) = store.add_links(&counts).await {
        for (id, n) in counts {
            if let Some(a) = arms.iter().find(|a| a.variant.id == id) {
                a.links.fetch_add(n, Ordering::Relaxed);
            }
        }
        return Err(e);
    }
    Ok(())
}

/// Each variant's counts in its main currency (the one with most orders).
fn totals(experiment: &Experiment, outcomes: &[VariantOutcome]) -> Vec<VariantTotals> {
    experiment
        .variants
        .iter()
        .map(|v| {
            let rows: Vec<&VariantOutcome> =
                outcomes.iter().filter(|o| o.variant_id == v.id).collect();
            let main = rows
                .iter()
                .max_by_key(|o| (o.orders, std::cmp::Reverse(o.currency.clone())))
                .copied();
            let (links, clicks) = rows.first().map_or((0, 0), |o| (o.links, o.clicks));
            VariantTotals {
                variant: v.clone(),
                counts: VariantCounts {
                    links,
                    clicks,
                    orders: main.map_or(0, |o| o.orders),
                    paid_cents: main.map_or(0, |o| o.paid_cents),
                    commission_cents: main.map_or(0, |o| o.commission_cents),
                    commission_sq_cents: main.map_or(0, |o| o.commission_sq_cents),
                },
                currency: main.and_then(|o| o.currency.clone()),
                other_currencies: rows
                    .iter()
                    .filter(|o| {
                        o.currency.is_some() && o.currency != main.and_then(|m| m.currency.clone())
                    })
                    .filter_map(|o| o.currency.clone())
                    .collect(),
            }
        })
        .collect()
}

/// The shares of a running experiment: its weights (fixed) or Thompson sampling over the
/// counts (bandit), seeded by the experiment and the counts so every instance agrees.
fn shares(experiment: &Experiment, totals: &[VariantTotals]) -> Vec<f64> {
    match experiment.allocation {
        Allocation::Fixed => fixed_shares(
            &experiment
                .variants
                .iter()
                .map(|v| v.weight)
                .collect::<Vec<_>>(),
        ),
        Allocation::Bandit => {
            let counts: Vec<VariantCounts> = totals.iter().map(|t| t.counts).collect();
            let mut seed = 0xcbf2_9ce4_8422_2325_u64;
            fnv1a(&mut seed, &experiment.id.to_be_bytes());
            for c in &counts {
                fnv1a(&mut seed, &c.clicks.to_be_bytes());
                fnv1a(&mut seed, &c.orders.to_be_bytes());
                fnv1a(&mut seed, &c.commission_cents.to_be_bytes());
            }
            bandit_shares(&counts, experiment.min_share_permille, seed, BANDIT_DRAWS)
        }
    }
}
