//! What recommendations, insights, predictions and result recording refuse.

use crate::domain::{Forbidden, Invalid};
use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A model that could not be stored or read back: our bug, not the client's.
    #[error("model: {0}")]
    Model(String),
}

impl From<AiError> for ApiError {
    fn from(e: AiError) -> Self {
        match e {
            AiError::Invalid(e) => e.into(),
            AiError::Forbidden(e) => e.into(),
            AiError::NotFound(what) => ApiError::not_found(what),
            AiError::Conflict { code, detail } => ApiError::conflict(code, detail),
            AiError::Db(e) => ApiError::Database(e),
            AiError::Model(m) => ApiError::Internal(anyhow::anyhow!(m)),
        }
    }
}
