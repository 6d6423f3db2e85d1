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

/// GCRA (the algorithm `governor` runs locally) on Redis's own clock, so all
/// instances agree and there is no window edge where twice the limit passes.
/// Returns 0 when allowed, else the milliseconds to wait.
const GCRA_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
  return tat - now - tolerance
end
local new_tat = tat + emission
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
"#;

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
                let mut conn = redis.conn.clone();
                let emission_ms = 60_000 / u64::from((*per_minute).max(1));
                let tolerance_ms = emission_ms * u64::from(per_minute.saturating_sub(1));
                let result: redis::RedisResult<i64> = redis::Script::new(GCRA_SCRIPT)
                    .key(redis.key(&format!("rl:{key}")))
                    .arg(emission_ms)
                    .arg(tolerance_ms)
                    .invoke_async(&mut conn)
                    .await;
                match result {
                    Ok(wait_ms) if wait_ms > 0 => {
                        Err(ApiError::rate_limited((wait_ms as u64).div_ceil(1000)))
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
