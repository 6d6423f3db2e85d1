//! The wallet: a double-entry ledger, deposits through payment providers,
//! transfers between fans.

pub mod ledger;
pub mod model;
pub mod money;
pub mod payments;
pub mod provider;
pub mod routes;
pub mod sales;
pub mod service;
pub mod verify;

pub use routes::{admin_router, payments_router, router};
