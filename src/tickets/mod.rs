//! Match ticketing: events, purchases that never oversell, signed QR tickets
//! verifiable offline, the gate, transfers, refunds and ownership chains.

pub mod admin;
pub mod model;
pub mod routes;
pub mod service;
pub mod signing;

pub use routes::{admin_router, keys_router, router};
