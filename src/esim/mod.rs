//! Travel eSIMs: plans, purchase through a supplier interface, installable LPA
//! activation codes, usage, top-ups.

pub mod demo;
pub mod model;
pub mod provider;
pub mod purchase;
pub mod routes;
pub mod service;

pub use routes::{admin_router, router};

use std::sync::Arc;

use crate::config::Config;
use provider::{EsimProvider, SimulatedFailure, SimulatedProvider};

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
