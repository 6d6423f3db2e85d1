//! All of the eSIM capability's SQL: plans, a fan's eSIMs, purchases and
//! top-ups as they move through the supplier, and the supplier's usage
//! reports. Rows are read into `FromRow` structs.

use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::{now_ms, rfc3339};
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::wallet::money::{Currency, format_minor};

pub(crate) const DAY_MS: i64 = 86_400_000;

pub(crate) fn data_text(mb: Option<i64>) -> String {
    match mb {
        None => "Unlimited".into(),
        Some(mb) if mb % 1024 == 0 => format!("{} GB", mb / 1024),
        Some(mb) => format!("{mb} MB"),
    }
}

const PLAN_COLUMNS: &str = "id, name, region, countries, data_mb, validity_days, validity_starts, price, currency, features, popular, active";

#[derive(sqlx::FromRow)]
struct PlanRow {
    id: String,
    name: String,
    region: String,
    /// JSON arrays.
    countries: String,
    features: String,
    data_mb: Option<i64>,
    validity_days: i64,
    validity_starts: String,
    price: i64,
    currency: String,
    popular: i64,
    active: i64,
}

/// A plan as sold, its price in minor units, and whether it is on sale.
pub(crate) struct StoredPlan {
    pub plan: Plan,
    pub price: i64,
    pub active: bool,
}

impl TryFrom<PlanRow> for StoredPlan {
    type Error = EsimError;
    fn try_from(r: PlanRow) -> Result<StoredPlan, EsimError> {
        let cur = Currency::stored(&r.currency)?;
        let list = |json: &str| -> Vec<String> { serde_json::from_str(json).unwrap_or_default() };
        Ok(StoredPlan {
            plan: Plan {
                countries: list(&r.countries),
                features: list(&r.features),
                id: r.id,
                name: r.name,
                region: r.region,
                data_mb: r.data_mb,
                unlimited: r.data_mb.is_none(),
                data: data_text(r.data_mb),
                validity_days: r.validity_days,
                validity: format!("{} days", r.validity_days),
                validity_starts: r.validity_starts,
                price: format_minor(r.price, cur),
                currency: cur.code().to_owned(),
                popular: r.popular != 0,
            },
            price: r.price,
            active: r.active != 0,
        })
    }
}

/// Plans on sale, cheapest first, in `region` (empty: all).
pub(crate) async fn plans_on_sale(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    region: &str,
) -> Result<Vec<Plan>, EsimError> {
    let rows: Vec<PlanRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE active = 1 AND ($1 = '' OR LOWER(region) = LOWER($1))
         ORDER BY price, id"
    )))
    .bind(region)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| Ok(StoredPlan::try_from(r)?.plan))
        .collect()
}

pub(crate) async fn plan(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
) -> Result<Option<StoredPlan>, EsimError> {
    let row: Option<PlanRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(StoredPlan::try_from).transpose()
}

pub(crate) struct NewPlanRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub region: &'a str,
    pub countries_json: &'a str,
    pub data_mb: Option<i64>,
    pub validity_days: i64,
    pub validity_starts: &'a str,
    pub price: i64,
    pub currency: &'a str,
    pub features_json: &'a str,
    pub popular: bool,
    pub now: i64,
}

/// False when a plan with this id exists.
pub(crate) async fn insert_plan(
    conn: &mut AnyConnection,
    p: NewPlanRow<'_>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO esim_plans (id, name, region, countries, data_mb, validity_days, validity_starts, price, currency,
                                 features, popular, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12) ON CONFLICT (id) DO NOTHING",
    )
    .bind(p.id)
    .bind(p.name)
    .bind(p.region)
    .bind(p.countries_json)
    .bind(p.data_mb)
    .bind(p.validity_days)
    .bind(p.validity_starts)
    .bind(p.price)
    .bind(p.currency)
    .bind(p.features_json)
    .bind(i64::from(p.popular))
    .bind(p.now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub(crate) async fn update_plan(
    conn: &mut AnyConnection,
    id: &str,
    price: Option<i64>,
    active: Option<bool>,
    popular: Option<bool>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE esim_plans SET price = COALESCE($2, price), active = COALESCE($3, active), popular = COALESCE($4, popular),
                updated_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(price)
    .bind(active.map(i64::from))
    .bind(popular.map(i64::from))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

const ESIM_SQL: &str = "
SELECT e.id, e.status, e.iccid, e.matching_id, e.smdp_address, e.activation_code,
       e.data_total_mb, e.data_used_mb, e.validity_days, e.price, e.currency, e.first_used_at, e.expires_at,
       e.created_at, e.plan_id, p.name AS plan_name, p.region AS plan_region
FROM esims e JOIN esim_plans p ON p.id = e.plan_id";

#[derive(sqlx::FromRow)]
struct EsimRow {
    id: String,
    status: String,
    iccid: Option<String>,
    matching_id: Option<String>,
    smdp_address: Option<String>,
    activation_code: Option<String>,
    data_total_mb: Option<i64>,
    data_used_mb: i64,
    validity_days: i64,
    price: i64,
    currency: String,
    first_used_at: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
    plan_id: String,
    plan_name: String,
    plan_region: String,
}

impl EsimRow {
    /// Expiry is a matter of time, so it is computed when read (and persisted
    /// by the next webhook): a profile past its `expiresAt` shows `expired`.
    fn into_esim(self, now: i64) -> Result<Esim, EsimError> {
        let cur = Currency::stored(&self.currency)?;
        let mut status = EsimStatus::stored(&self.status)?;
        if status.usable() && self.expires_at.is_some_and(|e| e <= now) {
            status = EsimStatus::Expired;
        }
        let (total, used) = (self.data_total_mb, self.data_used_mb);
        Ok(Esim {
            id: self.id,
            plan: PlanSummary {
                id: self.plan_id,
                name: self.plan_name,
                region: self.plan_region,
            },
            status,
            iccid: self.iccid,
            activation_code: self.activation_code,
            smdp_address: self.smdp_address,
            matching_id: self.matching_id,
            unlimited: total.is_none(),
            data_total_mb: total,
            data_used_mb: used,
            data_remaining_mb: total.map(|t| (t - used).max(0)),
            validity_days: self.validity_days,
            first_used_at: self.first_used_at.map(rfc3339),
            expires_at: self.expires_at.map(rfc3339),
            price: format_minor(self.price, cur),
            currency: cur.code().to_owned(),
            created_at: rfc3339(self.created_at),
        })
    }
}

/// A fan's eSIM read through `conn` (inside a transaction that changed it).
pub async fn esim_with(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
) -> Result<Esim, EsimError> {
    let row: EsimRow = sqlx::query_as(AssertSqlSafe(format!(
        "{ESIM_SQL} WHERE e.id = $1 AND e.user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?
    .ok_or(EsimError::NotFound("eSIM"))?;
    row.into_esim(now_ms())
}

/// A fan's eSIMs, newest first.
pub(crate) async fn esims_of(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Vec<Esim>, EsimError> {
    let now = now_ms();
    let rows: Vec<EsimRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{ESIM_SQL} WHERE e.user_id = $1 ORDER BY e.id DESC"
    )))
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(|r| r.into_esim(now)).collect()
}

// Purchases and top-ups.

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

// The supplier's usage reports.

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
/// depleted; past its expiry (or expired by the supplier) is expired.
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
         WHERE id = $1 AND status IN ('ready', 'active') AND ($3 = 1 OR (expires_at IS NOT NULL AND expires_at <= $2))",
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
