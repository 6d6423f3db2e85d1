//! What chat, feed and moderation refuse, and how each refusal reads.

use crate::domain::{Forbidden, Invalid};
use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// Also what a non-member is told about a conversation: it does not
    /// exist for them.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this fan does not accept messages from you")]
    Blocked,
    #[error("this message was deleted")]
    Deleted,
    #[error("{0}")]
    Conflict(&'static str),
    /// Too many messages: the limiter's own answer (429 with Retry-After).
    #[error("too many messages")]
    RateLimited(Box<ApiError>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<SocialError> for ApiError {
    fn from(e: SocialError) -> Self {
        let detail = e.to_string();
        match e {
            SocialError::Invalid(e) => e.into(),
            SocialError::Forbidden(e) => e.into(),
            SocialError::NotFound(what) => ApiError::not_found(what),
            SocialError::Blocked => {
                ApiError::new(axum::http::StatusCode::FORBIDDEN, "blocked", detail)
            }
            SocialError::Deleted => ApiError::conflict("message_deleted", detail),
            SocialError::Conflict(_) => ApiError::conflict("conflict", detail),
            SocialError::RateLimited(e) => *e,
            SocialError::Db(e) => ApiError::Database(e),
        }
    }
}
