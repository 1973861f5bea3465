//! A/B experiments of link strategies: their definitions, the links each variant handed out,
//! and what each variant earned (clicks from the click store, orders attributed by the
//! sub-ids the platform returns with each order; see [`alistach_domain::SubIds`]).

use alistach_domain::{LinkType, TenantId};
use async_trait::async_trait;

use crate::StoreError;

/// How traffic is split between variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Allocation {
    /// In proportion to the variants' weights, for the whole experiment.
    Fixed,
    /// Thompson sampling on earnings per click, with a floor for every variant.
    Bandit,
}

impl Allocation {
    /// The default least share of each of a bandit's variants, in thousandths (10%).
    pub const DEFAULT_MIN_SHARE_PERMILLE: u32 = 100;

    /// `fixed` or `bandit`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Allocation::Fixed => "fixed",
            Allocation::Bandit => "bandit",
        }
    }

    /// The allocation named `name`.
    pub fn parse(name: &str) -> Option<Allocation> {
        match name {
            "fixed" => Some(Allocation::Fixed),
            "bandit" => Some(Allocation::Bandit),
            _ => None,
        }
    }
}

/// A variant as asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewVariant {
    /// Unique within the experiment; the `cv` sub-id its links carry.
    pub name: String,
    /// Its share of traffic relative to the others' (fixed allocation), at least 1.
    pub weight: u32,
    /// Normal or hot links.
    pub link_type: LinkType,
    /// The tracking id its links earn for; the deployment's when `None`.
    pub tracking_id: Option<String>,
}

/// An experiment as asked for (validated by the service before it is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewExperiment {
    /// Whose experiment it is: its links are that tenant's, and each tenant runs at most one.
    pub tenant: TenantId,
    /// A name for people.
    pub name: String,
    /// How traffic is split.
    pub allocation: Allocation,
    /// Bandit allocation: the least share of traffic any variant gets, in thousandths.
    pub min_share_permille: u32,
    /// Two or more variants; the first is the control the others are tested against.
    pub variants: Vec<NewVariant>,
}

/// A stored variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The store's id for it, unique across experiments (carried in tracked-link tokens and
    /// clicks).
    pub id: u32,
    /// As asked for.
    pub name: String,
    /// As asked for.
    pub weight: u32,
    /// As asked for.
    pub link_type: LinkType,
    /// As asked for.
    pub tracking_id: Option<String>,
}

/// A stored experiment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Experiment {
    /// The store's id for it (the `cn` sub-id is `ab<id>`).
    pub id: u64,
    /// As asked for.
    pub tenant: TenantId,
    /// As asked for.
    pub name: String,
    /// As asked for.
    pub allocation: Allocation,
    /// As asked for.
    pub min_share_permille: u32,
    /// The variants, in the order asked for.
    pub variants: Vec<Variant>,
    /// When it was created (Unix ms).
    pub created_at_ms: i64,
    /// When it was stopped; `None` while it runs.
    pub stopped_at_ms: Option<i64>,
}

impl Experiment {
    /// True until stopped.
    pub fn running(&self) -> bool {
        self.stopped_at_ms.is_none()
    }
}

/// What one variant of an experiment earned, in one currency (orders in another currency
/// are another row; a variant without orders has one row with `currency` `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariantOutcome {
    /// The variant's store id.
    pub variant_id: u32,
    /// Links it handed out (as added by [`ExperimentStore::add_links`]).
    pub links: u64,
    /// Clicks on its tracked links (clicks whose variant is this variant's id).
    pub clicks: u64,
    /// The currency of the sums below (`None` when it has no orders).
    pub currency: Option<String>,
    /// Orders attributed to it (their sub-ids name the experiment and the variant), `Invalid`
    /// ones left out.
    pub orders: u64,
    /// Sum of their paid amounts, in cents.
    pub paid_cents: i64,
    /// Sum of their commissions, in cents: the finished commission where there is one, else
    /// the estimated commission on payment.
    pub commission_cents: i64,
    /// Sum of the squares of those commissions (cents²), for the variance of earnings.
    pub commission_sq_cents: i128,
}

/// Experiments and their counts.
#[async_trait]
pub trait ExperimentStore: Send + Sync + 'static {
    /// Stores `new` as a running experiment, its variants numbered by the store. Refused
    /// with [`StoreError::Conflict`] while another experiment of the same tenant runs: at
    /// most one runs per tenant at a time (whichever instance creates it), so every link of
    /// a tenant has one strategy; other tenants' experiments do not matter.
    async fn create_experiment(
        &self,
        new: &NewExperiment,
        now_ms: i64,
    ) -> Result<Experiment, StoreError>;

    /// One experiment.
    async fn experiment(&self, id: u64) -> Result<Option<Experiment>, StoreError>;

    /// Every experiment of `tenant` (of every tenant when `None`), newest first.
    async fn experiments(&self, tenant: Option<&TenantId>) -> Result<Vec<Experiment>, StoreError>;

    /// The running experiment of `tenant`, if any.
    async fn running_experiment(&self, tenant: &TenantId)
    -> Result<Option<Experiment>, StoreError>;

    /// The running experiment of every tenant that runs one, in tenant id order.
    async fn running_experiments(&self) -> Result<Vec<Experiment>, StoreError>;

    /// Stops the experiment (a stopped one stays as it is, with its first stop time);
    /// `None` for an unknown id.
    async fn stop_experiment(&self, id: u64, now_ms: i64)
    -> Result<Option<Experiment>, StoreError>;

    /// Adds links handed out, per variant id (ids of no variant are ignored).
    async fn add_links(&self, counts: &[(u32, u64)]) -> Result<(), StoreError>;

    /// What each variant of `experiment` earned: its links and clicks, and the orders whose
    /// sub-ids name experiment `experiment.id` and the variant's name (real orders only;
    /// mock orders when `mock`), summed per currency. Every variant has at least one row, in
    /// the experiment's variant order.
    async fn variant_outcomes(
        &self,
        experiment: &Experiment,
        mock: bool,
    ) -> Result<Vec<VariantOutcome>, StoreError>;
}
