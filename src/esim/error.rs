//! What the eSIM capability refuses, and how each refusal reads as a problem.

use crate::domain::{Forbidden, Invalid};
use crate::error::ApiError;
use crate::http::idempotency::{ANSWERED, IN_FLIGHT};
use crate::replay::RecordError;
use crate::wallet::ChargeError;
use crate::wallet::money::UnknownCurrency;

#[derive(Debug, thiserror::Error)]
pub enum EsimError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("eSIM sales are not enabled on this server")]
    SalesOff,
    #[error("this eSIM is {0}")]
    NotReady(String),
    #[error("{0}")]
    NotTopupable(String),
    #[error("a plan with this id exists")]
    PlanExists,
    /// A purchase or top-up is still with the supplier (another request).
    #[error("this purchase is still with the eSIM supplier; retry shortly")]
    InFlight,
    /// The request's key paid for another kind of operation.
    #[error("this Idempotency-Key was used for another operation")]
    KeyUsedElsewhere,
    /// The supplier failed after the money was taken: refunded.
    #[error("the eSIM supplier could not provide a profile; your payment was refunded")]
    ProvisioningFailed {
        esim_id: String,
        new_balance: String,
    },
    #[error("the eSIM supplier could not top up; your payment was refunded")]
    TopupFailed { new_balance: String },
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

impl From<EsimError> for ApiError {
    fn from(e: EsimError) -> Self {
        let detail = e.to_string();
        match e {
            EsimError::Invalid(e) => e.into(),
            EsimError::Forbidden(e) => e.into(),
            EsimError::NotFound(what) => ApiError::not_found(what),
            EsimError::SalesOff => ApiError::unavailable(detail),
            EsimError::NotReady(_) => ApiError::conflict("esim_not_ready", detail),
            EsimError::NotTopupable(_) => ApiError::conflict("not_topupable", detail),
            EsimError::PlanExists => ApiError::conflict("plan_exists", detail),
            EsimError::InFlight => ApiError::conflict(IN_FLIGHT, detail),
            EsimError::KeyUsedElsewhere => ApiError::conflict(ANSWERED, detail),
            EsimError::ProvisioningFailed {
                esim_id,
                new_balance,
            } => ApiError::bad_gateway("esim_provisioning_failed", detail)
                .with("esimId", esim_id)
                .with("newBalance", new_balance),
            EsimError::TopupFailed { new_balance } => {
                ApiError::bad_gateway("esim_topup_failed", detail).with("newBalance", new_balance)
            }
            EsimError::Charge(e) => e.into(),
            EsimError::Replay(e) => e.into(),
            EsimError::Db(e) => ApiError::Database(e),
            EsimError::Currency(e) => ApiError::Internal(e.into()),
            EsimError::Internal(detail) => ApiError::Internal(anyhow::anyhow!(detail)),
        }
    }
}
