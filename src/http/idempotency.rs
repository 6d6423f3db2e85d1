//! `Idempotency-Key` for every POST that moves money or creates a purchase
//! (IETF httpapi idempotency-key draft), as one layer the money routes share.
//!
//! - first request with a key: run, its answer stored (with [`layer`] the key
//!   is reserved `in_flight` first; with [`committed_layer`] the answer is
//!   written in the handler's own transaction);
//! - same key, same body: the stored answer is replayed with
//!   `Idempotent-Replayed: true`, nothing is charged again;
//! - same key, another body: 422 `idempotency_key_reused`;
//! - same key while the first is still running: 409 `idempotency_request_in_flight`
//!   (see [`layer`] and [`committed_layer`] for how each detects it).
//!
//! The key also reaches the handler (`IdempotencyKey` extension), which hands
//! it to the core in a [`crate::replay::Replay`]: the ledger binds it to the
//! operation it posts and the core records its answer, both in the
//! operation's own transaction, so a retry can never post twice and even
//! after a crash right after the commit replays the very answer the first
//! request would have had. The handler answers with [`Answer`].

use axum::Extension;
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::app::{AppState, MAX_BODY_BYTES};
use crate::db::{Db, now_ms};
use crate::error::ApiError;
use crate::http::extract::AuthUser;
use crate::replay::{JSON, Recorded, Replay, write_answer};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";
/// Keys are kept at least this long (the contract says 24 h).
pub const RETENTION_MS: i64 = 48 * 3600 * 1000;
/// An `in_flight` reservation older than this belongs to a request that died
/// with its process; a retry may take it over (the ledger's unique key still
/// prevents a second posting).
const LEASE_MS: i64 = 120 * 1000;
/// A reservation whose owning process has not beaten its heartbeat for this
/// long is taken over at once: a `kill -9` must not block retries for the
/// whole lease. Well above [`HEARTBEAT_EVERY`], so a busy process is never
/// mistaken for a dead one.
pub const OWNER_DEAD_AFTER_MS: i64 = 10 * 1000;
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
const MAX_STORED_RESPONSE: usize = 256 * 1024;

/// The validated key of the current request (and the fingerprint of the
/// request it names), for the ledger and for the core's [`Replay`].
pub use crate::replay::IdemKey as IdempotencyKey;

enum Reservation {
    Acquired,
    InFlight,
    Mismatch,
    Replay {
        /// When the row was written (for `committed_layer`: when the answer was).
        stored_at: i64,
        status: u16,
        content_type: Option<String>,
        body: String,
    },
}

/// For routes whose work may take time or call out (a provider, a supplier):
/// the key is reserved before the handler runs, and a duplicate that arrives
/// meanwhile is told 409 `idempotency_request_in_flight`.
pub async fn layer(Extension(state): Extension<AppState>, req: Request, next: Next) -> Response {
    run(state, req, next, false).await
}

/// For routes whose whole work is one database transaction that stores its
/// own answer with [`Answer`] and has no effect before the ledger's unique
/// key is taken: nothing is read or written before the handler runs (two
/// statements less on the hottest money path), and the first answer stored
/// for a key wins. A success stores its answer in the money's transaction
/// and rolls back if the key was answered meanwhile; a failure is stored
/// only if no answer is there yet. A request that ran alongside the one whose
/// answer was stored gets 409 `idempotency_request_in_flight`, as with a
/// reserved key (a concurrent duplicate waits on the ledger's unique key
/// first); every later request replays the stored answer. One key never has
/// two outcomes.
pub async fn committed_layer(
    Extension(state): Extension<AppState>,
    req: Request,
    next: Next,
) -> Response {
    run(state, req, next, true).await
}

async fn run(state: AppState, req: Request, next: Next, committed: bool) -> Response {
    // Only a POST creates or moves anything; any other method goes on to be
    // routed (and refused with 405 where the route has none).
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(HEADER).cloned() else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    // Keys are per user, and who is asking is checked before anything else:
    // without a valid token the handler answers 401 itself.
    let Ok(user) = AuthUser::from_request_parts(&mut parts, &state).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let key = match raw.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x21..=0x7e).contains(&b)) => {
            k.to_owned()
        }
        _ => {
            return ApiError::field(
                "Idempotency-Key",
                "invalid_format",
                "must be 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over 64 KiB",
        )
        .into_response();
    };
    let fingerprint = fingerprint(parts.method.as_str(), parts.uri.path(), &bytes);

    let started = now_ms();
    // A committed route looks nothing up first: a retry meets the ledger's
    // unique key (or the stored answer) inside its transaction, which rolls
    // back, and is then answered from the stored row below.
    let found = if committed {
        Ok(Reservation::Acquired)
    } else {
        reserve(&state.db, &state.instance, &user.id, &key, &fingerprint).await
    };
    match found {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(Reservation::Mismatch) => return reused(),
        Ok(Reservation::InFlight) => return in_flight(),
        Ok(replay @ Reservation::Replay { .. }) => return replayed(replay),
        Ok(Reservation::Acquired) => {}
    }

    parts.extensions.insert(IdempotencyKey {
        key: key.clone(),
        fingerprint: fingerprint.clone(),
    });
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if resp.extensions().get::<AnswerStored>().is_some() {
        return resp;
    }
    let status = resp.status();
    // Transient failures are not the answer to remember: the retry should run.
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        if !committed && let Err(e) = release(&state.db, &user.id, &key).await {
            tracing::error!(error = %e, "idempotency: release failed");
        }
        return resp;
    }
    let (rparts, rbody) = resp.into_parts();
    let body = match to_bytes(rbody, MAX_STORED_RESPONSE).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "idempotency: response body unreadable");
            let _ = release(&state.db, &user.id, &key).await;
            return ApiError::Internal(anyhow::anyhow!("response body unreadable")).into_response();
        }
    };
    // A handler that found the key's work still running elsewhere says so
    // as the layer would: not an answer to keep.
    if status == StatusCode::CONFLICT && problem_code(&body).as_deref() == Some(IN_FLIGHT) {
        if !committed && let Err(e) = release(&state.db, &user.id, &key).await {
            tracing::error!(error = %e, "idempotency: release failed");
        }
        return Response::from_parts(rparts, Body::from(body));
    }
    let content_type = rparts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // With `committed_layer`, another request with this key may have answered
    // first (its money committed with its answer, or its failure was stored):
    // that answer is the key's.
    let answered_elsewhere = committed
        && status == StatusCode::CONFLICT
        && problem_code(&body).as_deref() == Some(ANSWERED);
    let idem = IdempotencyKey {
        key: key.clone(),
        fingerprint: fingerprint.clone(),
    };
    let stored = if answered_elsewhere {
        Ok(false)
    } else {
        match state.db.bookkeeping().await {
            Ok(mut conn) => {
                write_answer(
                    conn.conn(),
                    &user.id,
                    &idem,
                    status.as_u16(),
                    content_type.as_deref(),
                    &String::from_utf8_lossy(&body),
                )
                .await
            }
            Err(e) => Err(e),
        }
    };
    match stored {
        Ok(true) => {}
        // `layer`: the reservation was this request's; an answer already
        // there came from the work itself (`Answer`), so keep it.
        Ok(false) if !committed => {}
        Ok(false) => match lookup(&state.db, &user.id, &key, &fingerprint).await {
            Ok(Reservation::Mismatch) => return reused(),
            // Answered before this request began: a retry, replayed.
            Ok(replay @ Reservation::Replay { stored_at, .. }) if stored_at <= started => {
                return replayed(replay);
            }
            // Answered by a request this one ran alongside: as for a
            // reserved key, it was "in flight" (a retry replays it).
            Ok(Reservation::Replay { .. } | Reservation::InFlight) => return in_flight(),
            // No answer stored (the key outlived its retention in the
            // ledger): this request's own answer stands.
            Ok(Reservation::Acquired) => {}
            Err(e) => tracing::error!(error = %e, "idempotency: lookup failed"),
        },
        // The work itself is committed; a retry will meet the ledger's
        // unique key instead of a stored answer.
        Err(e) => tracing::error!(error = %e, "idempotency: storing the response failed"),
    }
    Response::from_parts(rparts, Body::from(body))
}

/// The problem `code` a handler answers when its key turned out to be
/// answered already by another request (see [`committed_layer`]).
pub const ANSWERED: &str = "already_processed";
/// The problem `code` of a duplicate that arrived while the first was running.
pub const IN_FLIGHT: &str = "idempotency_request_in_flight";

fn problem_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("code")?.as_str().map(str::to_owned)
}

fn reused() -> Response {
    ApiError::unprocessable(
        "idempotency_key_reused",
        "this Idempotency-Key was already used with a different request",
    )
    .into_response()
}

/// With `Retry-After`, so a client knows when to come back: the first try is
/// answered by then, or its dead process's reservation is taken over within
/// `OWNER_DEAD_AFTER_MS`.
fn in_flight() -> Response {
    let mut resp = ApiError::conflict(
        IN_FLIGHT,
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .into_response();
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    resp
}

fn replayed(replay: Reservation) -> Response {
    let Reservation::Replay {
        status,
        content_type,
        body,
        ..
    } = replay
    else {
        return ApiError::Internal(anyhow::anyhow!("not a stored answer")).into_response();
    };
    let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    resp.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}

/// Marks a response whose answer the handler already stored in its own
/// transaction, so the layer does not write it a second time.
#[derive(Debug, Clone, Copy)]
struct AnswerStored;

/// The HTTP answer of a keyed operation: the one its core recorded in its
/// transaction (so the layer does not write it a second time), or, without a
/// key, the value worded the same way.
pub struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    stored: bool,
}

impl Answer {
    /// The answer to a request whose core ran with `replay`: the one the core
    /// stored in its transaction, or, without a key, `value` worded the same way.
    pub fn after<T: serde::Serialize>(replay: Replay<T>, value: &T) -> Result<Answer, ApiError> {
        let status = StatusCode::from_u16(replay.status_of(value)).unwrap_or(StatusCode::OK);
        if let Some(recorded) = replay.recorded() {
            return Ok(Answer::stored(recorded));
        }
        let body = serde_json::to_string(value)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("answer not serializable: {e}")))?;
        Ok(Answer {
            status,
            content_type: JSON,
            body,
            stored: false,
        })
    }

    /// A failed core call: the refusal the core stored with its work (a
    /// purchase refunded because the supplier failed), or the error itself.
    pub fn refused<T: serde::Serialize>(
        replay: Replay<T>,
        err: impl Into<ApiError>,
    ) -> Result<Answer, ApiError> {
        match replay.recorded() {
            Some(recorded) => Ok(Answer::stored(recorded)),
            None => Err(err.into()),
        }
    }

    fn stored(recorded: Recorded) -> Answer {
        Answer {
            status: StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::OK),
            content_type: recorded.content_type,
            body: recorded.body,
            stored: true,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            )],
            self.body,
        )
            .into_response();
        if self.stored {
            resp.extensions_mut().insert(AnswerStored);
        }
        resp
    }
}

/// Same method, path and JSON value (key order and spacing do not matter).
fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let canonical = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v.to_string().into_bytes(),
        Err(_) => body.to_vec(),
    };
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(&canonical);
    hex::encode(h.finalize())
}

async fn reserve(
    db: &Db,
    instance: &str,
    user: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Reservation, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.bookkeeping().await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state, created_at, owner)
         VALUES ($1, $2, $3, 'in_flight', $4, $5) ON CONFLICT (user_id, idem_key) DO NOTHING",
    )
    .bind(user)
    .bind(key)
    .bind(fingerprint)
    .bind(now)
    .bind(instance)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Reservation::Acquired);
    }
    let Some(row) = stored_row(tx.conn(), user, key).await? else {
        // Deleted between the two statements (expiry): treat as taken; retry.
        return Ok(Reservation::InFlight);
    };
    match evaluate(&row, fingerprint)? {
        Reservation::InFlight => {}
        other => return Ok(other),
    }
    // Taken over in one conditional statement, so of several retries racing
    // for a dead reservation exactly one wins: when the lease ran out, or at
    // once when the process that holds it stopped beating.
    let created: i64 = row.try_get("created_at")?;
    let taken = sqlx::query(
        "UPDATE idempotency_keys SET created_at = $3, owner = $5
         WHERE user_id = $1 AND idem_key = $2 AND state = 'in_flight' AND created_at = $4
           AND ($4 < $6 OR (owner IS NOT NULL AND owner <> $5 AND NOT EXISTS (
                 SELECT 1 FROM server_instances s
                 WHERE s.id = idempotency_keys.owner AND s.heartbeat_at >= $7)))",
    )
    .bind(user)
    .bind(key)
    .bind(now)
    .bind(created)
    .bind(instance)
    .bind(now - LEASE_MS)
    .bind(now - OWNER_DEAD_AFTER_MS)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if taken == 1 {
        tracing::warn!(
            key,
            "idempotency: took over the reservation of a dead request"
        );
        return Ok(Reservation::Acquired);
    }
    Ok(Reservation::InFlight)
}

async fn stored_row(
    conn: &mut AnyConnection,
    user: &str,
    key: &str,
) -> Result<Option<sqlx::any::AnyRow>, sqlx::Error> {
    sqlx::query(
        "SELECT request_hash, state, response_status, response_type, response_body, created_at
         FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// What an existing row means for a request with `fingerprint`.
fn evaluate(row: &sqlx::any::AnyRow, fingerprint: &str) -> Result<Reservation, sqlx::Error> {
    let hash: String = row.try_get("request_hash")?;
    if hash != fingerprint {
        return Ok(Reservation::Mismatch);
    }
    let state: String = row.try_get("state")?;
    if state == "done" {
        return Ok(Reservation::Replay {
            stored_at: row.try_get("created_at")?,
            status: row.try_get::<i64, _>("response_status")? as u16,
            content_type: row.try_get("response_type")?,
            body: row
                .try_get::<Option<String>, _>("response_body")?
                .unwrap_or_default(),
        });
    }
    Ok(Reservation::InFlight)
}

/// Read-only: `Acquired` means no answer or reservation is stored for the key.
async fn lookup(
    db: &Db,
    user: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Reservation, sqlx::Error> {
    let mut conn = db.reader().acquire().await?;
    match stored_row(&mut conn, user, key).await? {
        None => Ok(Reservation::Acquired),
        Some(row) => evaluate(&row, fingerprint),
    }
}

async fn release(db: &Db, user: &str, key: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.bookkeeping().await?;
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND state = 'in_flight'",
    )
    .bind(user)
    .bind(key)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Forgets keys past their retention; run periodically.
pub async fn purge_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let mut tx = db.bookkeeping().await?;
    let n = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now_ms() - RETENTION_MS)
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn fingerprint_ignores_json_spacing_and_key_order() {
        let a = fingerprint(
            "POST",
            "/api/wallet/send",
            br#"{"amount":"5.00","recipientId":"x"}"#,
        );
        let b = fingerprint(
            "POST",
            "/api/wallet/send",
            b"{ \"recipientId\": \"x\", \"amount\": \"5.00\" }",
        );
        let c = fingerprint(
            "POST",
            "/api/wallet/send",
            br#"{"amount":"5.01","recipientId":"x"}"#,
        );
        let d = fingerprint(
            "POST",
            "/api/wallet/deposit",
            br#"{"amount":"5.00","recipientId":"x"}"#,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
