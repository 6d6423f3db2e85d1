//! Fixed-rate limits per key (client address, account).
//!
//! One instance keeps its counters in memory (GCRA via `governor`); several
//! instances behind a load balancer share a Redis window counter, so a client
//! cannot multiply its allowance by the number of instances.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;
use crate::infra::redis::Redis;

#[derive(Clone)]
pub enum RateLimiter {
    Local(Arc<DefaultKeyedRateLimiter<String>>),
    Redis { redis: Redis, per_minute: u32 },
}

const WINDOW_SECS: u64 = 60;

impl RateLimiter {
    pub fn new(per_minute: u32, redis: Option<Redis>) -> RateLimiter {
        match redis {
            Some(redis) => RateLimiter::Redis { redis, per_minute },
            None => {
                let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
                RateLimiter::Local(Arc::new(DefaultKeyedRateLimiter::keyed(
                    Quota::per_minute(n).allow_burst(n),
                )))
            }
        }
    }

    /// Counts one attempt for `key`; 429 with `Retry-After` once over the limit.
    pub async fn check(&self, key: &str) -> Result<(), ApiError> {
        match self {
            RateLimiter::Local(limiter) => {
                if limiter.len() > 100_000 {
                    limiter.retain_recent();
                }
                limiter.check_key(&key.to_owned()).map_err(|not_until| {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    ApiError::rate_limited(wait.as_secs().max(1))
                })
            }
            RateLimiter::Redis { redis, per_minute } => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
                let window = now / WINDOW_SECS;
                let k = redis.key(&format!("rl:{key}:{window}"));
                let mut conn = redis.conn.clone();
                let result: redis::RedisResult<(u64, ())> = redis::pipe()
                    .atomic()
                    .incr(&k, 1u64)
                    .expire(&k, (WINDOW_SECS * 2) as i64)
                    .query_async(&mut conn)
                    .await;
                match result {
                    Ok((count, ())) if count > u64::from(*per_minute) => {
                        let retry = WINDOW_SECS - now % WINDOW_SECS;
                        Err(ApiError::rate_limited(retry))
                    }
                    Ok(_) => Ok(()),
                    Err(err) => {
                        // Failing open: an unreachable Redis must not lock every
                        // fan out of their account; readiness reports it.
                        tracing::warn!(error = %err, "rate limiter: redis unavailable");
                        Ok(())
                    }
                }
            }
        }
    }
}
