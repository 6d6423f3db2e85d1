//! The club shop: catalogue with sized stock, carts, checkout paid through the
//! ledger without overselling, orders, cancellation with refund.

pub mod demo;
pub mod model;
pub mod routes;
pub mod service;

pub use routes::{admin_orders_router, admin_products_router, router};
