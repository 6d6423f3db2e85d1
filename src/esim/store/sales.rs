//! Purchases and top-ups as they move through the supplier.

use super::DAY_MS;
use crate::esim::model::*;
use sqlx::AnyConnection;

pub(crate) struct NewEsim<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub plan: &'a Plan,
    pub provider: &'a str,
    pub price: i64,
    pub currency: &'a str,
    pub now: i64,
}

/// A paid eSIM waiting for the supplier.
pub(crate) async fn insert_provisioning(
    conn: &mut AnyConnection,
    e: NewEsim<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO esims (id, user_id, plan_id, provider, status, data_total_mb, data_used_mb, validity_days,
                            validity_starts, price, currency, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'provisioning', $5, 0, $6, $7, $8, $9, $10, $10)",
    )
    .bind(e.id)
    .bind(e.user_id)
    .bind(&e.plan.id)
    .bind(e.provider)
    .bind(e.plan.data_mb)
    .bind(e.plan.validity_days)
    .bind(&e.plan.validity_starts)
    .bind(e.price)
    .bind(e.currency)
    .bind(e.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The supplier's profile.
pub(crate) struct ReadyProfile<'a> {
    pub iccid: &'a str,
    pub matching_id: &'a str,
    pub smdp_address: &'a str,
    pub activation_code: &'a str,
    pub expires_at: Option<i64>,
}

/// `provisioning` → `ready`; false when the eSIM was no longer provisioning.
pub(crate) async fn mark_ready(
    conn: &mut AnyConnection,
    id: &str,
    p: ReadyProfile<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE esims SET status = 'ready', iccid = $2, matching_id = $3, smdp_address = $4,
                activation_code = $5, expires_at = $6, updated_at = $7
         WHERE id = $1 AND status = 'provisioning'",
    )
    .bind(id)
    .bind(p.iccid)
    .bind(p.matching_id)
    .bind(p.smdp_address)
    .bind(p.activation_code)
    .bind(p.expires_at)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A purchase or top-up just marked failed: what to refund to whom.
#[derive(sqlx::FromRow)]
pub(crate) struct FailedSale {
    pub esim_id: String,
    pub user_id: String,
    pub provider: String,
    pub price: i64,
    pub currency: String,
}

/// `provisioning` → `failed`; None when it was no longer provisioning.
pub(crate) async fn fail_provisioning(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
) -> Result<Option<FailedSale>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE esims SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'provisioning'
         RETURNING id AS esim_id, user_id, provider, price, currency",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// When a purchase began (orphan detection).
pub(crate) async fn esim_created_at(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
) -> Result<i64, sqlx::Error> {
    let (at,): (i64,) = sqlx::query_as("SELECT created_at FROM esims WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(at)
}

/// Ids of purchases (`esims`) or top-ups (`esim_topups`) still unsettled
/// since `cutoff`.
pub(crate) async fn unsettled(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    topups: bool,
    cutoff: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = if topups {
        "SELECT id FROM esim_topups WHERE status = 'pending' AND created_at <= $1"
    } else {
        "SELECT id FROM esims WHERE status = 'provisioning' AND created_at <= $1"
    };
    let rows: Vec<(String,)> = sqlx::query_as(sql).bind(cutoff).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// What a key paid for: the eSIM of a purchase, or the top-up.
pub(crate) async fn paid_with_key(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    key: &str,
    topup: bool,
) -> Result<Option<String>, sqlx::Error> {
    let sql = if topup {
        "SELECT tu.id FROM ledger_operations o JOIN esim_topups tu ON tu.operation_id = o.id
         WHERE o.user_id = $1 AND o.idempotency_key = $2"
    } else {
        "SELECT t.reference_id AS id FROM ledger_operations o JOIN transfers t ON t.operation_id = o.id
         WHERE o.user_id = $1 AND o.idempotency_key = $2 AND o.kind = 'esim_purchase'
           AND t.reference_type = 'esim'"
    };
    let row: Option<(String,)> = sqlx::query_as(sql)
        .bind(user_id)
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}

pub(crate) struct NewTopup<'a> {
    pub id: &'a str,
    pub esim_id: &'a str,
    pub user_id: &'a str,
    pub plan_id: &'a str,
    pub provider: &'a str,
    pub price: i64,
    pub currency: &'a str,
    pub operation_id: &'a str,
    pub now: i64,
}

pub(crate) async fn insert_topup(
    conn: &mut AnyConnection,
    t: NewTopup<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO esim_topups (id, esim_id, user_id, plan_id, provider, price, currency, operation_id, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)",
    )
    .bind(t.id)
    .bind(t.esim_id)
    .bind(t.user_id)
    .bind(t.plan_id)
    .bind(t.provider)
    .bind(t.price)
    .bind(t.currency)
    .bind(t.operation_id)
    .bind(t.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// `pending` → `applied`, answering the eSIM; None when no longer pending.
pub(crate) async fn apply_topup(
    conn: &mut AnyConnection,
    topup_id: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "UPDATE esim_topups SET status = 'applied', updated_at = $2 WHERE id = $1 AND status = 'pending'
         RETURNING esim_id",
    )
    .bind(topup_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.0))
}

/// Whether the eSIM can still take a top-up, decided by the statement (in
/// the transaction that charges for it): not expired, by status or by date.
pub(crate) async fn still_topupable(
    conn: &mut AnyConnection,
    esim_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE esims SET updated_at = $2
         WHERE id = $1 AND status IN ('ready', 'active', 'depleted')
           AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(esim_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Adds a plan's data and days to an eSIM. Unlimited stays unlimited; days
/// extend the current expiry (if running); a depleted eSIM is active again.
pub(crate) async fn extend(
    conn: &mut AnyConnection,
    esim_id: &str,
    data_mb: Option<i64>,
    validity_days: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE esims SET data_total_mb = CASE WHEN data_total_mb IS NULL OR $2 IS NULL THEN NULL ELSE data_total_mb + $2 END,
                validity_days = validity_days + $3,
                expires_at = CASE WHEN expires_at IS NULL THEN NULL ELSE expires_at + $4 END,
                status = CASE WHEN status = 'depleted' THEN 'active' ELSE status END,
                notified_80 = 0, notified_100 = 0, updated_at = $5
         WHERE id = $1",
    )
    .bind(esim_id)
    .bind(data_mb)
    .bind(validity_days)
    .bind(validity_days * DAY_MS)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// `pending` → `failed`; None when it was no longer pending.
pub(crate) async fn fail_topup(
    conn: &mut AnyConnection,
    topup_id: &str,
    now: i64,
) -> Result<Option<FailedSale>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE esim_topups SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'pending'
         RETURNING esim_id, user_id, provider, price, currency",
    )
    .bind(topup_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

#[derive(sqlx::FromRow)]
pub(crate) struct TopupRow {
    pub esim_id: String,
    pub status: String,
    pub created_at: i64,
    pub currency: String,
}

pub(crate) async fn topup(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    topup_id: &str,
) -> Result<TopupRow, sqlx::Error> {
    sqlx::query_as("SELECT esim_id, status, created_at, currency FROM esim_topups WHERE id = $1")
        .bind(topup_id)
        .fetch_one(conn)
        .await
}
