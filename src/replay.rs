//! The answer to a keyed request, written in the transaction of the work it
//! reports: money and answer commit together or not at all, so a retry after
//! a crash replays exactly what the first request would have said instead of
//! meeting the ledger's unique key.
//!
//! A core receives a [`Replay`] from its route and records its outcome right
//! before it commits; the route says how the outcome reads (the status of a
//! success), the core never sees HTTP. The `Idempotency-Key` layer that reserves
//! keys and replays answers lives in `http::idempotency`.

use std::sync::{Arc, OnceLock};

use sqlx::AnyConnection;

use crate::db::now_ms;
use crate::error::ApiError;

/// The validated key of a request and the fingerprint of the request it names.
#[derive(Debug, Clone)]
pub struct IdemKey {
    pub key: String,
    pub fingerprint: String,
}

/// An answer as the client reads it, stored or about to be.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

pub const JSON: &str = "application/json";
pub const PROBLEM: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Another request with this key committed its answer first; the caller's
    /// transaction must roll back (that other answer is the key's outcome).
    #[error("this Idempotency-Key already has an answer")]
    AlreadyAnswered,
    #[error("answer not serializable: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Who sent a request, its key (if any) and the status a success `T`
/// answers with. After the core ran, [`Replay::recorded`] holds what it
/// stored. Clones share what was recorded, so work that outlives its request
/// (a supplier call in a task of its own) records for the request.
pub struct Replay<T> {
    user: Arc<str>,
    key: Option<IdemKey>,
    success_status: fn(&T) -> u16,
    recorded: Arc<OnceLock<Recorded>>,
}

impl<T> Clone for Replay<T> {
    fn clone(&self) -> Self {
        Self {
            user: self.user.clone(),
            key: self.key.clone(),
            success_status: self.success_status,
            recorded: self.recorded.clone(),
        }
    }
}

impl<T: serde::Serialize> Replay<T> {
    pub fn new(user: &str, key: Option<&IdemKey>, success_status: fn(&T) -> u16) -> Self {
        Self {
            user: Arc::from(user),
            key: key.cloned(),
            success_status,
            recorded: Arc::default(),
        }
    }

    pub fn status_of(&self, value: &T) -> u16 {
        (self.success_status)(value)
    }

    pub fn key(&self) -> Option<&IdemKey> {
        self.key.as_ref()
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// Stores a success in the caller's transaction. Fails with
    /// [`RecordError::AlreadyAnswered`] when the key has an answer already.
    pub async fn success(&self, conn: &mut AnyConnection, value: &T) -> Result<(), RecordError> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        let answer = Recorded {
            status: (self.success_status)(value),
            content_type: JSON,
            body: serde_json::to_string(value)?,
        };
        if !write_answer(
            conn,
            &self.user,
            key,
            answer.status,
            Some(JSON),
            &answer.body,
        )
        .await?
        {
            return Err(RecordError::AlreadyAnswered);
        }
        let _ = self.recorded.set(answer);
        Ok(())
    }

    /// Stores a final refusal that follows committed work (a purchase refunded
    /// because the supplier failed): a retry replays it instead of meeting the
    /// ledger's unique key.
    pub async fn refusal(
        &self,
        conn: &mut AnyConnection,
        refusal: impl Into<ApiError>,
    ) -> Result<(), RecordError> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        let problem: ApiError = refusal.into();
        let answer = Recorded {
            status: problem.status().as_u16(),
            content_type: PROBLEM,
            body: problem.problem_json(),
        };
        write_answer(
            conn,
            &self.user,
            key,
            answer.status,
            Some(PROBLEM),
            &answer.body,
        )
        .await?;
        let _ = self.recorded.set(answer);
        Ok(())
    }

    /// The answer the core stored, if it stored one.
    pub fn recorded(&self) -> Option<Recorded> {
        self.recorded.get().cloned()
    }
}

/// Writes a key's answer over this request's own reservation (`layer`), or
/// as its first answer (`committed_layer`); never over another answer, nor
/// over the reservation of a request with another body. False when the key
/// already had an answer (or belonged to another request).
pub async fn write_answer(
    conn: &mut AnyConnection,
    user: &str,
    key: &IdemKey,
    status: u16,
    content_type: Option<&str>,
    body: &str,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state, response_status, response_type, response_body, created_at)
         VALUES ($1, $2, $3, 'done', $4, $5, $6, $7)
         ON CONFLICT (user_id, idem_key) DO UPDATE SET state = 'done',
           response_status = excluded.response_status, response_type = excluded.response_type,
           response_body = excluded.response_body
         WHERE idempotency_keys.state = 'in_flight'
           AND idempotency_keys.request_hash = excluded.request_hash",
    )
    .bind(user)
    .bind(&key.key)
    .bind(&key.fingerprint)
    .bind(i64::from(status))
    .bind(content_type)
    .bind(body)
    .bind(now_ms())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}
