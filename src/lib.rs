//! PaieCashFan server: the backend of a football-club fan app.

pub mod app;
pub mod auth;
pub mod clubs;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod infra;
pub mod notifications;
pub mod system;
pub mod wallet;
