//! What the wallet refuses, and how each refusal reads as a problem.

use crate::domain::{Forbidden, Invalid};
use crate::error::ApiError;
use crate::replay::RecordError;
use crate::wallet::ledger::LedgerError;
use crate::wallet::money::{AmountError, Currency, UnknownCurrency};

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// A valid token whose account was deleted.
    #[error("this account no longer exists")]
    AccountGone,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("deposits are limited to {limit} {} per day", currency.code())]
    DailyLimitExceeded { limit: String, currency: Currency },
    #[error("the payment provider could not take this deposit; nothing was charged")]
    ProviderUnavailable,
    #[error("{0}")]
    InvalidEvent(&'static str),
    #[error("the event still cannot be applied: {reason}")]
    EventNotApplicable { reason: String },
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

/// Why a charge (a transfer, a sale, a refund) was not posted.
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error("your {} balance is too low for this payment", .0.code())]
    InsufficientFunds(Currency),
    /// The request's Idempotency-Key already posted an operation.
    #[error("this Idempotency-Key already completed an operation; see your transaction history")]
    AlreadyPosted,
    #[error("currency mismatch on account {0}")]
    CurrencyMismatch(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl ChargeError {
    pub fn from_ledger(e: LedgerError, currency: Currency) -> Self {
        match e {
            LedgerError::InsufficientFunds { .. } => ChargeError::InsufficientFunds(currency),
            LedgerError::DuplicateOperation => ChargeError::AlreadyPosted,
            LedgerError::CurrencyMismatch(acc) => ChargeError::CurrencyMismatch(acc),
            LedgerError::Db(e) => ChargeError::Db(e),
        }
    }
}

/// The 422 for an amount that does not parse, naming the field.
pub fn amount_invalid(field: &str, e: AmountError) -> Invalid {
    let code = match e {
        AmountError::NotPositive => "not_positive",
        AmountError::TooManyDigits { .. } => "too_many_decimals",
        AmountError::TooLarge => "too_large",
        AmountError::Exponent | AmountError::Format => "invalid_format",
    };
    Invalid::field(field, code, e.to_string())
}

impl From<ChargeError> for ApiError {
    fn from(e: ChargeError) -> Self {
        match e {
            ChargeError::InsufficientFunds(_) => {
                ApiError::conflict("insufficient_funds", e.to_string())
            }
            ChargeError::AlreadyPosted => {
                ApiError::conflict(crate::http::idempotency::ANSWERED, e.to_string())
            }
            ChargeError::CurrencyMismatch(_) => ApiError::Internal(anyhow::anyhow!(e.to_string())),
            ChargeError::Db(e) => ApiError::Database(e),
        }
    }
}

impl From<WalletError> for ApiError {
    fn from(e: WalletError) -> Self {
        match e {
            WalletError::Invalid(e) => e.into(),
            WalletError::Forbidden(e) => e.into(),
            WalletError::AccountGone => ApiError::unauthorized(e.to_string()),
            WalletError::NotFound(what) => ApiError::not_found(what),
            WalletError::DailyLimitExceeded { .. } => {
                ApiError::conflict("daily_limit_exceeded", e.to_string())
            }
            WalletError::ProviderUnavailable => {
                ApiError::bad_gateway("payment_provider_unavailable", e.to_string())
            }
            WalletError::InvalidEvent(detail) => ApiError::bad_request("invalid_event", detail),
            WalletError::EventNotApplicable { ref reason } => {
                let reason = reason.clone();
                ApiError::conflict("event_not_applicable", e.to_string()).with("reason", reason)
            }
            WalletError::Charge(e) => e.into(),
            WalletError::Replay(e) => e.into(),
            WalletError::Db(e) => ApiError::Database(e),
            WalletError::Currency(e) => ApiError::Internal(e.into()),
            WalletError::Internal(detail) => ApiError::Internal(anyhow::anyhow!(detail)),
        }
    }
}
