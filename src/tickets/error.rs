//! What ticketing refuses, and how each refusal reads as a problem.

use crate::domain::{Forbidden, Invalid};
use crate::error::ApiError;
use crate::replay::RecordError;
use crate::wallet::ChargeError;
use crate::wallet::money::UnknownCurrency;

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("ticket sales open at {opens_at}")]
    SaleNotOpen { opens_at: String },
    #[error("ticket sales for this match are closed")]
    SaleClosed,
    /// The fan saw another price than the one now asked.
    #[error("the price is now {price} {currency}")]
    PriceChanged {
        price: String,
        currency: &'static str,
    },
    #[error("at most {limit} tickets per fan for this match")]
    LimitReached { limit: i64 },
    #[error("not enough seats left in this category")]
    SoldOut,
    /// The ticket cannot show a QR code (used, transferred, refunded).
    #[error("{0}")]
    NotValid(String),
    #[error("this scan is being processed")]
    ScanInFlight,
    /// The nonce already named another scan (another code, kind or scanner).
    #[error("this nonce was used for another scan: scan again with a new nonce")]
    NonceReused,
    #[error("{0}")]
    NotTransferable(String),
    #[error("{0}")]
    NotRefundable(String),
    #[error("{0}")]
    RefundWindowClosed(String),
    #[error("this match already has a category with that name")]
    CategoryExists,
    #[error("capacity cannot go below the seats already sold")]
    CapacityBelowSold,
    #[error("this match has a recorded result: its kickoff and sale can no longer change")]
    MatchPlayed,
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

impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> Self {
        let detail = e.to_string();
        match e {
            TicketError::Invalid(e) => e.into(),
            TicketError::Forbidden(e) => e.into(),
            TicketError::NotFound(what) => ApiError::not_found(what),
            TicketError::SaleNotOpen { .. } => ApiError::conflict("sale_not_open", detail),
            TicketError::SaleClosed => ApiError::conflict("sale_closed", detail),
            TicketError::PriceChanged { price, currency } => {
                ApiError::conflict("price_changed", detail)
                    .with("currentPrice", price)
                    .with("currency", currency)
            }
            TicketError::LimitReached { .. } => ApiError::conflict("ticket_limit_reached", detail),
            TicketError::SoldOut => ApiError::conflict("sold_out", detail),
            TicketError::NotValid(_) => ApiError::conflict("ticket_not_valid", detail),
            TicketError::ScanInFlight => ApiError::conflict("scan_in_flight", detail),
            TicketError::NonceReused => ApiError::unprocessable("nonce_reused", detail),
            TicketError::NotTransferable(_) => ApiError::conflict("not_transferable", detail),
            TicketError::NotRefundable(_) => ApiError::conflict("not_refundable", detail),
            TicketError::RefundWindowClosed(_) => {
                ApiError::conflict("refund_window_closed", detail)
            }
            TicketError::CategoryExists => ApiError::conflict("category_exists", detail),
            TicketError::CapacityBelowSold => ApiError::conflict("capacity_below_sold", detail),
            TicketError::MatchPlayed => ApiError::conflict("match_played", detail),
            TicketError::Charge(e) => e.into(),
            TicketError::Replay(e) => e.into(),
            TicketError::Db(e) => ApiError::Database(e),
            TicketError::Currency(e) => ApiError::Internal(e.into()),
            TicketError::Internal(detail) => ApiError::Internal(anyhow::anyhow!(detail)),
        }
    }
}
