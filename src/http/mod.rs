//! HTTP plumbing shared by every capability.

pub mod cache;
pub mod extract;
pub mod idempotency;
pub mod middleware;
pub mod openapi;
pub mod qr;
pub mod validate;
pub mod web;
