//! All of the eSIM capability's SQL: plans, a fan's eSIMs, purchases and
//! top-ups as they move through the supplier, and the supplier's usage
//! reports. Rows are read into `FromRow` structs.

mod sales;
mod usage;

pub(crate) use sales::*;
pub(crate) use usage::*;

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
/// Every plan on sale, by price (the in-memory list filters it).
pub(crate) async fn plans_on_sale(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
) -> Result<Vec<Plan>, EsimError> {
    let rows: Vec<PlanRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE active = 1 ORDER BY price, id"
    )))
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
