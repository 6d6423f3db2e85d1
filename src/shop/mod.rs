//! The club shop: catalogue with sized stock, carts, checkout paid through the
//! ledger without overselling, orders, cancellation with refund.

pub mod admin;
pub mod cart;
pub mod catalogue;
pub mod demo;
pub mod error;
pub mod model;
pub mod orders;
pub mod routes;
pub mod store;

pub use error::ShopError;
pub use routes::{admin_orders_router, admin_products_router, router};

use crate::db::Db;
use crate::infra::readmodel::{ReadModel, Topic, View};

/// The shop core.
#[derive(Clone)]
pub struct Shop {
    db: Db,
    /// The platform's share of each sale, in basis points.
    commission_bps: i64,
    read: ReadModel,
    /// Every active product with its stock, by id.
    on_sale: View<Vec<model::Product>>,
}

impl Shop {
    pub fn new(db: Db, commission_bps: i64, read: ReadModel) -> Self {
        Self {
            db,
            commission_bps,
            on_sale: read.view(Topic::Products),
            read,
        }
    }
}
