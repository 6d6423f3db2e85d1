//! The gate's statements: a scan changes a ticket only through conditional
//! updates on its current version, and every scan is recorded with its answer.

use sqlx::AnyConnection;

pub(in crate::tickets) async fn home_club_of(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    event_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT home_club_id FROM events WHERE id = $1")
        .bind(event_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}

/// The scan recorded under a nonce: its answer and what it was.
#[derive(sqlx::FromRow)]
pub(in crate::tickets) struct NonceRow {
    pub response: String,
    pub scan_hash: Option<String>,
    pub staff_id: String,
    pub kind: String,
    pub ticket_id: Option<String>,
    pub created_at: i64,
}

/// The scan already recorded with this nonce (a device's retry, or a clash).
pub(in crate::tickets) async fn scan_with_nonce(
    conn: &mut AnyConnection,
    event_id: &str,
    nonce: &str,
) -> Result<Option<NonceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT response, scan_hash, staff_id, kind, ticket_id, created_at FROM ticket_checkins
         WHERE event_id = $1 AND nonce = $2",
    )
    .bind(event_id)
    .bind(nonce)
    .fetch_optional(conn)
    .await
}

pub(in crate::tickets) struct Checkin<'a> {
    pub id: &'a str,
    pub ticket_id: Option<&'a str>,
    pub event_id: &'a str,
    pub staff_id: &'a str,
    pub kind: &'a str,
    pub gate: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub status: &'a str,
    pub reason: &'a str,
    /// The answer as sent, replayed to a retry with the same nonce.
    pub response: &'a str,
    /// `online` or `batch`.
    pub source: &'a str,
    /// What the scan was, so its nonce replays only it.
    pub scan_hash: &'a str,
    pub scanned_at: i64,
    pub now: i64,
}

/// Records a scan; a second scan with the same nonce violates
/// `CHECKIN_NONCE`.
pub(in crate::tickets) async fn record_checkin(
    conn: &mut AnyConnection,
    c: Checkin<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ticket_checkins (id, ticket_id, event_id, staff_id, kind, gate, nonce, status, reason, response, source, scanned_at, created_at, scan_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(c.id)
    .bind(c.ticket_id)
    .bind(c.event_id)
    .bind(c.staff_id)
    .bind(c.kind)
    .bind(c.gate)
    .bind(c.nonce)
    .bind(c.status)
    .bind(c.reason)
    .bind(c.response)
    .bind(c.source)
    .bind(c.scanned_at)
    .bind(c.now)
    .bind(c.scan_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Steps a used ticket of this version out at `at`; false when it was not
/// inside, or when an entry was recorded at or after `at` (an uploaded exit
/// older than the holder's last entry does not let the ticket in again).
pub(in crate::tickets) async fn step_out(
    conn: &mut AnyConnection,
    ticket_id: &str,
    version: i64,
    at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE tickets SET inside = 0, updated_at = $3
         WHERE id = $1 AND version = $2 AND status = 'used' AND inside = 1
           AND NOT EXISTS (SELECT 1 FROM ticket_checkins c
                           WHERE c.ticket_id = $1 AND c.kind = 'entry' AND c.status = 'ok'
                             AND c.scanned_at >= $4)",
    )
    .bind(ticket_id)
    .bind(version)
    .bind(now)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Lets a ticket of this version in (the first entry is remembered); false
/// when it is already inside: of two concurrent scans exactly one enters.
pub(in crate::tickets) async fn step_in(
    conn: &mut AnyConnection,
    ticket_id: &str,
    version: i64,
    at: i64,
    gate: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE tickets SET status = 'used', inside = 1,
                first_used_at = COALESCE(first_used_at, $3), first_used_gate = COALESCE(first_used_gate, $4),
                updated_at = $5
         WHERE id = $1 AND version = $2 AND status IN ('valid', 'used') AND inside = 0",
    )
    .bind(ticket_id)
    .bind(version)
    .bind(at)
    .bind(gate)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// An uploaded offline scan earlier than the recorded first scan becomes the
/// first; false when the recorded one is earlier.
pub(in crate::tickets) async fn earlier_first_scan(
    conn: &mut AnyConnection,
    ticket_id: &str,
    at: i64,
    gate: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE tickets SET first_used_at = $2, first_used_gate = $3, updated_at = $4
         WHERE id = $1 AND first_used_at > $2",
    )
    .bind(ticket_id)
    .bind(at)
    .bind(gate)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A ticket as the offline gate kit carries it.
#[derive(sqlx::FromRow)]
pub(in crate::tickets) struct GateRow {
    pub id: String,
    pub status: String,
    pub version: i64,
    pub inside: i64,
    pub first_used_at: Option<i64>,
    pub first_used_gate: Option<String>,
}

/// The match's tickets changed after `since` (all of them with -1).
pub(in crate::tickets) async fn changed_since(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    event_id: &str,
    since: i64,
) -> Result<Vec<GateRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status, version, inside, first_used_at, first_used_gate FROM tickets
         WHERE event_id = $1 AND updated_at > $2 ORDER BY id",
    )
    .bind(event_id)
    .bind(since)
    .fetch_all(conn)
    .await
}
