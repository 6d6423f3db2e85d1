//! Travel eSIMs: plans, purchase through a supplier interface, installable LPA
//! activation codes, usage, top-ups.

pub mod demo;
pub mod error;
pub mod model;
pub mod plans;
pub mod provider;
pub mod purchase;
pub mod routes;
pub mod store;
pub mod topup;
pub mod usage;

pub use error::EsimError;
pub use routes::{admin_router, router};

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::db::Db;
use crate::infra::readmodel::{ReadModel, Topic, View};
use crate::notifications::Notifier;
use provider::{EsimProvider, SimulatedFailure, SimulatedProvider};

/// The eSIM core.
#[derive(Clone)]
pub struct Esims {
    db: Db,
    /// The supplier; None when eSIM sales are off.
    provider: Option<Arc<dyn EsimProvider>>,
    /// How long a supplier call may take before the fan is refunded.
    provider_timeout: Duration,
    /// Signs the supplier's usage webhooks.
    webhook_secret: Arc<str>,
    notifier: Notifier,
    read: ReadModel,
    /// Every plan on sale, by price.
    on_sale: View<Vec<model::Plan>>,
}

impl Esims {
    pub fn new(
        db: Db,
        provider: Option<Arc<dyn EsimProvider>>,
        provider_timeout: Duration,
        webhook_secret: &str,
        notifier: Notifier,
        read: ReadModel,
    ) -> Self {
        Self {
            on_sale: read.view(Topic::Plans),
            read,
            db,
            provider,
            provider_timeout,
            webhook_secret: Arc::from(webhook_secret),
            notifier,
        }
    }

    pub fn webhook_secret(&self) -> &str {
        &self.webhook_secret
    }

    /// A purchase or top-up still unsettled after this long has no process
    /// working on it: the supplier call is bounded by its timeout, and it runs
    /// in a task of its own that outlives the request; what follows it is one
    /// short transaction.
    pub fn orphaned_after(&self) -> Duration {
        self.provider_timeout + Duration::from_secs(5)
    }

    /// Whether the supplier `name` is the one configured (webhooks).
    pub fn supplier_is(&self, name: &str) -> bool {
        self.provider.as_ref().is_some_and(|p| p.name() == name)
    }
}

/// The configured supplier, or None when eSIM sales are off.
pub fn provider_from_config(config: &Config) -> Option<Arc<dyn EsimProvider>> {
    match config.esim_provider.as_str() {
        "simulated" => {
            let failure = match config.esim_simulated_failure.as_str() {
                "error" => SimulatedFailure::Error,
                "timeout" => SimulatedFailure::Timeout,
                _ => SimulatedFailure::None,
            };
            Some(Arc::new(SimulatedProvider::new(
                &config.esim_smdp_address,
                failure,
            )))
        }
        _ => None,
    }
}
