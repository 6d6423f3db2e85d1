//! Connections to the outside: Redis, rate limiting, event fan-out.

pub mod fanout;
pub mod ratelimit;
pub mod redis;
