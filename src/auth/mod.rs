//! Accounts, sessions and roles.

pub mod error;
pub mod model;
pub mod password;
pub mod routes;
pub mod service;
pub mod sessions;
pub mod store;
pub mod token;

pub use routes::{admin_router, router};

use std::sync::Arc;
use std::time::Duration;

pub use error::AuthError;

use crate::db::Db;
use crate::infra::fanout::Fanout;
use sessions::RevokedSessions;
use token::TokenService;

/// The accounts and sessions core.
#[derive(Clone)]
pub struct Auth {
    db: Db,
    tokens: Arc<TokenService>,
    /// Sessions ended before their access tokens expire.
    revoked: RevokedSessions,
    /// Tells the other instances which sessions ended.
    fanout: Arc<dyn Fanout>,
    /// How long a refresh token presented twice still gets the same successor.
    refresh_reuse_grace: Duration,
    /// Credited to each new fan's wallet from the promotions account.
    signup_bonus: Option<(crate::wallet::money::Currency, i64)>,
}

impl Auth {
    pub fn new(
        db: Db,
        tokens: Arc<TokenService>,
        revoked: RevokedSessions,
        fanout: Arc<dyn Fanout>,
        refresh_reuse_grace: Duration,
        signup_bonus: Option<(crate::wallet::money::Currency, i64)>,
    ) -> Self {
        Self {
            db,
            tokens,
            revoked,
            fanout,
            refresh_reuse_grace,
            signup_bonus,
        }
    }
}
