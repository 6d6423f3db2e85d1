//! Sessions ended before their access tokens expire.
//!
//! An access token names its session (`sid`, the refresh-token family). When
//! a session ends early (logout, refresh-token reuse, a password change, an
//! admin's revocation) its id goes into an in-memory set that every request
//! checks, without a database round trip. Every instance learns of it at
//! once through the fan-out (Redis between instances), loads the recent ones
//! at start, and re-reads the database every few seconds in case a message
//! was lost. An id is kept as long as a token of its session can live.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::db::{Db, now_ms};
use crate::infra::fanout::{Event, Fanout};

pub const REVOKED_EVENT: &str = "session.revoked";
/// How often the database is re-read for revocations a message may have missed.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Default)]
pub struct RevokedSessions {
    /// Session id -> when it can be forgotten (ms).
    inner: Arc<RwLock<HashMap<String, i64>>>,
}

impl RevokedSessions {
    pub fn is_revoked(&self, sid: &str) -> bool {
        self.inner
            .read()
            .map(|m| m.contains_key(sid))
            // A poisoned lock cannot tell: refuse rather than let a revoked
            // session through.
            .unwrap_or(true)
    }

    fn insert(&self, sid: String, forget_at: i64) {
        if let Ok(mut m) = self.inner.write() {
            let at = m.entry(sid).or_insert(forget_at);
            *at = (*at).max(forget_at);
        }
    }

    fn prune(&self, now: i64) {
        if let Ok(mut m) = self.inner.write() {
            m.retain(|_, forget_at| *forget_at > now);
        }
    }
}

/// Ends `sessions` on this instance and tells every other one.
pub fn announce(
    revoked: &RevokedSessions,
    fanout: &dyn Fanout,
    sessions: &[String],
    access_ttl: Duration,
) {
    let forget_at = now_ms() + access_ttl.as_millis() as i64;
    for sid in sessions {
        revoked.insert(sid.clone(), forget_at);
        fanout.publish(Event {
            topic: "system".into(),
            kind: REVOKED_EVENT.into(),
            payload: serde_json::json!({"sid": sid, "forgetAt": forget_at}),
            id: None,
        });
    }
}

/// Sessions revoked since `since` (ms), with when each can be forgotten.
async fn revoked_since(
    db: &Db,
    since: i64,
    access_ttl: Duration,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    Ok(crate::auth::store::revoked_since(db.reader(), since)
        .await?
        .into_iter()
        .map(|(sid, at)| (sid, at + access_ttl.as_millis() as i64))
        .collect())
}

/// Loads what was revoked within one access-token lifetime (at start).
pub async fn load(
    revoked: &RevokedSessions,
    db: &Db,
    access_ttl: Duration,
) -> Result<(), sqlx::Error> {
    let since = now_ms() - access_ttl.as_millis() as i64;
    for (sid, forget_at) in revoked_since(db, since, access_ttl).await? {
        revoked.insert(sid, forget_at);
    }
    Ok(())
}

/// Keeps the set current: revocations announced by other instances, a
/// periodic re-read of the database, and forgetting what has expired.
pub async fn follow(
    revoked: RevokedSessions,
    fanout: Arc<dyn Fanout>,
    db: Db,
    access_ttl: Duration,
) {
    let mut events = fanout.subscribe();
    let mut every = tokio::time::interval(RECONCILE_EVERY);
    let mut checked = now_ms();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(e) if e.kind == REVOKED_EVENT => {
                    if let (Some(sid), Some(at)) =
                        (e.payload["sid"].as_str(), e.payload["forgetAt"].as_i64())
                    {
                        revoked.insert(sid.to_owned(), at);
                    }
                }
                Ok(_) => {}
                // Missed some: the database re-read below catches up.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = every.tick() => {
                let now = now_ms();
                // Overlap the windows: a revocation committed just before the
                // last read may carry an earlier timestamp.
                match revoked_since(&db, checked - 10_000, access_ttl).await {
                    Ok(found) => {
                        for (sid, at) in found {
                            revoked.insert(sid, at);
                        }
                        checked = now;
                    }
                    Err(e) => tracing::warn!(error = %e, "session revocations not re-read"),
                }
                revoked.prune(now);
            }
        }
    }
}
