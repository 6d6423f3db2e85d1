//! What the shop refuses, and how each refusal reads as a problem.

use crate::domain::{Forbidden, Invalid};
use crate::error::ApiError;
use crate::replay::RecordError;
use crate::wallet::ChargeError;
use crate::wallet::money::UnknownCurrency;

/// Where an out-of-stock refusal points: the cart line (at checkout) or
/// the variant a fan is adding.
#[derive(Debug, Clone)]
pub struct Shortage {
    pub item_id: Option<String>,
    pub variant_id: String,
    pub available: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    OutOfStock { message: String, shortage: Shortage },
    #[error("your cart is empty")]
    CartEmpty,
    #[error("the cart holds items in several currencies; check them out separately")]
    MixedCurrencies,
    #[error("{name} is no longer sold")]
    ProductUnavailable { name: String, item_id: String },
    /// The total the fan saw is not the total now.
    #[error("the total is now {total} {currency}")]
    TotalChanged {
        total: String,
        currency: &'static str,
    },
    #[error("a {0} order cannot be cancelled")]
    NotCancellable(String),
    #[error("a {from} order cannot become {to}")]
    InvalidTransition { from: String, to: String },
    #[error("this product already has that size")]
    VariantExists,
    #[error(transparent)]
    Charge(#[from] ChargeError),
    #[error(transparent)]
    Replay(#[from] RecordError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Currency(#[from] UnknownCurrency),
    #[error("{0}")]
    Internal(String),
}

impl From<ShopError> for ApiError {
    fn from(e: ShopError) -> Self {
        let detail = e.to_string();
        match e {
            ShopError::Invalid(e) => e.into(),
            ShopError::Forbidden(e) => e.into(),
            ShopError::NotFound(what) => ApiError::not_found(what),
            ShopError::OutOfStock { shortage, .. } => {
                let mut problem = ApiError::conflict("out_of_stock", detail);
                if let Some(item) = shortage.item_id {
                    problem = problem.with("itemId", item);
                }
                problem
                    .with("variantId", shortage.variant_id)
                    .with("available", shortage.available)
            }
            // Nothing wrong with the request: the cart, as it is now, has nothing to pay for.
            ShopError::CartEmpty => ApiError::conflict("cart_empty", detail),
            ShopError::MixedCurrencies => ApiError::unprocessable("mixed_currencies", detail),
            ShopError::ProductUnavailable { item_id, .. } => {
                ApiError::conflict("product_unavailable", detail).with("itemId", item_id)
            }
            ShopError::TotalChanged { total, currency } => {
                ApiError::conflict("price_changed", detail)
                    .with("currentTotal", total)
                    .with("currency", currency)
            }
            ShopError::NotCancellable(_) => ApiError::conflict("not_cancellable", detail),
            ShopError::InvalidTransition { .. } => ApiError::conflict("invalid_transition", detail),
            ShopError::VariantExists => ApiError::conflict("variant_exists", detail),
            ShopError::Charge(e) => e.into(),
            ShopError::Replay(e) => e.into(),
            ShopError::Db(e) => ApiError::Database(e),
            ShopError::Currency(e) => ApiError::Internal(e.into()),
            ShopError::Internal(detail) => ApiError::Internal(anyhow::anyhow!(detail)),
        }
    }
}
