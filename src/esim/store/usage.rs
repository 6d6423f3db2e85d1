//! The supplier's usage reports.

use super::DAY_MS;
use sqlx::AnyConnection;

/// False when the event was delivered before.
pub(crate) async fn first_delivery(
    conn: &mut AnyConnection,
    provider: &str,
    event_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO esim_webhook_events (provider, event_id, received_at) VALUES ($1, $2, $3)
         ON CONFLICT (provider, event_id) DO NOTHING",
    )
    .bind(provider)
    .bind(event_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The eSIM (id, owner) of a supplier's profile.
pub(crate) async fn by_iccid(
    conn: &mut AnyConnection,
    provider: &str,
    iccid: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, user_id FROM esims WHERE provider = $1 AND iccid = $2")
        .bind(provider)
        .bind(iccid)
        .fetch_optional(conn)
        .await
}

/// Applies reported usage: usage only grows; the first use starts the clock
/// of first-use plans and makes a ready profile active; all data used is
/// depleted; past its expiry (or expired by the supplier) is expired, depleted
/// or not (an expired eSIM cannot be topped up).
pub(crate) async fn record_usage(
    conn: &mut AnyConnection,
    id: &str,
    used_mb: i64,
    first_used_at: Option<i64>,
    expired_by_supplier: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE esims SET
            data_used_mb = CASE WHEN $2 > data_used_mb THEN $2 ELSE data_used_mb END,
            first_used_at = COALESCE(first_used_at, $3),
            expires_at = CASE WHEN expires_at IS NULL AND validity_starts = 'first_use' AND COALESCE(first_used_at, $3) IS NOT NULL
                              THEN COALESCE(first_used_at, $3) + validity_days * $4 ELSE expires_at END,
            status = CASE WHEN status = 'ready' AND ($3 IS NOT NULL OR $2 > 0) THEN 'active' ELSE status END,
            updated_at = $5
         WHERE id = $1 AND status IN ('ready', 'active', 'depleted')",
    )
    .bind(id)
    .bind(used_mb)
    .bind(first_used_at)
    .bind(DAY_MS)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE esims SET status = 'depleted', updated_at = $2
         WHERE id = $1 AND status IN ('ready', 'active') AND data_total_mb IS NOT NULL AND data_used_mb >= data_total_mb",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE esims SET status = 'expired', updated_at = $2
         WHERE id = $1 AND status IN ('ready', 'active', 'depleted') AND ($3 = 1 OR (expires_at IS NOT NULL AND expires_at <= $2))",
    )
    .bind(id)
    .bind(now)
    .bind(i64::from(expired_by_supplier))
    .execute(conn)
    .await?;
    Ok(())
}

/// A usage threshold, announced once.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Threshold {
    Eighty,
    Hundred,
}

/// Flips a threshold's flag when usage crossed it; true only for the update
/// that flipped it, so each threshold notifies once.
pub(crate) async fn crossed(
    conn: &mut AnyConnection,
    id: &str,
    t: Threshold,
) -> Result<bool, sqlx::Error> {
    let sql = match t {
        Threshold::Eighty => {
            "UPDATE esims SET notified_80 = 1 WHERE id = $1 AND notified_80 = 0 AND data_total_mb IS NOT NULL
             AND data_used_mb * 100 >= data_total_mb * 80"
        }
        Threshold::Hundred => {
            "UPDATE esims SET notified_100 = 1 WHERE id = $1 AND notified_100 = 0 AND data_total_mb IS NOT NULL
             AND data_used_mb * 100 >= data_total_mb * 100"
        }
    };
    let n = sqlx::query(sql)
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}
