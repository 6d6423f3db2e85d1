//! Accounts, sessions and roles.

pub mod model;
pub mod password;
pub mod routes;
pub mod service;
pub mod sessions;
pub mod store;
pub mod token;

pub use routes::{admin_router, router};
