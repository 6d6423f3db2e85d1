//! PaieCashFan server: the backend of a football-club fan app.

pub mod ai;
pub mod app;
pub mod auth;
pub mod clubs;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod esim;
pub mod http;
pub mod infra;
pub mod live;
pub mod notifications;
pub mod replay;
pub mod shop;
pub mod social;
pub mod system;
pub mod tickets;
pub mod versions;
pub mod wallet;

/// Installs ring as the process's TLS crypto provider (outgoing HTTPS to
/// payment providers); idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
