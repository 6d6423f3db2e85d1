//! Connections to the outside (Redis, rate limiting, event fan-out) and the
//! process's memory.

pub mod fanout;
pub mod memory;
pub mod ratelimit;
pub mod readmodel;
pub mod redis;
