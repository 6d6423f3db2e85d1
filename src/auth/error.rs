//! What sign-up, sign-in and account changes refuse, and how each reads.

use crate::domain::{Forbidden, Invalid};
use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong e-mail or password (which one is not said).
    #[error("invalid email or password")]
    BadCredentials,
    #[error("invalid or expired refresh token")]
    BadRefreshToken,
    /// A valid token whose account was deleted.
    #[error("this account no longer exists")]
    AccountGone,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Password(#[from] crate::auth::password::PasswordError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let detail = e.to_string();
        match e {
            AuthError::Invalid(e) => e.into(),
            AuthError::Forbidden(e) => e.into(),
            AuthError::EmailTaken => ApiError::conflict("email_taken", detail),
            AuthError::BadCredentials | AuthError::BadRefreshToken | AuthError::AccountGone => {
                ApiError::unauthorized(detail)
            }
            AuthError::NotFound(what) => ApiError::not_found(what),
            AuthError::Password(e) => e.into(),
            AuthError::Db(e) => ApiError::Database(e),
            AuthError::Internal(detail) => ApiError::Internal(anyhow::anyhow!(detail)),
        }
    }
}
