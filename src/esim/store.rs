//! The eSIM SQL that several operations read: plans and a fan's eSIMs.

use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};

use crate::db::{now_ms, rfc3339};
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::wallet::money::{Currency, format_minor};

pub(crate) const DAY_MS: i64 = 86_400_000;

pub(crate) fn currency_of(code: &str) -> Result<Currency, sqlx::Error> {
    Ok(Currency::stored(code)?)
}

pub(crate) fn data_text(mb: Option<i64>) -> String {
    match mb {
        None => "Unlimited".into(),
        Some(mb) if mb % 1024 == 0 => format!("{} GB", mb / 1024),
        Some(mb) => format!("{mb} MB"),
    }
}

pub(crate) const PLAN_COLUMNS: &str = "id, name, region, countries, data_mb, validity_days, validity_starts, price, currency, features, popular, active";

pub(crate) fn plan_from_row(r: &AnyRow) -> Result<(Plan, i64, bool), sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?)?;
    let data_mb: Option<i64> = r.try_get("data_mb")?;
    let days: i64 = r.try_get("validity_days")?;
    let price: i64 = r.try_get("price")?;
    let list = |col: &str| -> Result<Vec<String>, sqlx::Error> {
        Ok(serde_json::from_str(&r.try_get::<String, _>(col)?).unwrap_or_default())
    };
    Ok((
        Plan {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            region: r.try_get("region")?,
            countries: list("countries")?,
            data_mb,
            unlimited: data_mb.is_none(),
            data: data_text(data_mb),
            validity_days: days,
            validity: format!("{days} days"),
            validity_starts: r.try_get("validity_starts")?,
            price: format_minor(price, cur),
            currency: cur.code().to_owned(),
            features: list("features")?,
            popular: r.try_get::<i64, _>("popular")? != 0,
        },
        price,
        r.try_get::<i64, _>("active")? != 0,
    ))
}

pub(crate) const ESIM_SQL: &str = "
SELECT e.id, e.user_id, e.plan_id, e.status, e.iccid, e.matching_id, e.smdp_address, e.activation_code,
       e.data_total_mb, e.data_used_mb, e.validity_days, e.price, e.currency, e.first_used_at, e.expires_at,
       e.created_at, p.name AS plan_name, p.region AS plan_region
FROM esims e JOIN esim_plans p ON p.id = e.plan_id";

/// Expiry is a matter of time, so it is computed when read (and persisted by
/// the next webhook): a profile past its `expiresAt` shows `expired`.
pub(crate) fn esim_from_row(r: &AnyRow, now: i64) -> Result<Esim, sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?)?;
    let total: Option<i64> = r.try_get("data_total_mb")?;
    let used: i64 = r.try_get("data_used_mb")?;
    let expires_at: Option<i64> = r.try_get("expires_at")?;
    let mut status = EsimStatus::stored(&r.try_get::<String, _>("status")?)?;
    if status.usable() && expires_at.is_some_and(|e| e <= now) {
        status = EsimStatus::Expired;
    }
    Ok(Esim {
        id: r.try_get("id")?,
        plan: PlanSummary {
            id: r.try_get("plan_id")?,
            name: r.try_get("plan_name")?,
            region: r.try_get("plan_region")?,
        },
        status,
        iccid: r.try_get("iccid")?,
        activation_code: r.try_get("activation_code")?,
        smdp_address: r.try_get("smdp_address")?,
        matching_id: r.try_get("matching_id")?,
        unlimited: total.is_none(),
        data_total_mb: total,
        data_used_mb: used,
        data_remaining_mb: total.map(|t| (t - used).max(0)),
        validity_days: r.try_get("validity_days")?,
        first_used_at: r.try_get::<Option<i64>, _>("first_used_at")?.map(rfc3339),
        expires_at: expires_at.map(rfc3339),
        price: format_minor(r.try_get("price")?, cur),
        currency: cur.code().to_owned(),
        created_at: rfc3339(r.try_get("created_at")?),
    })
}

/// A fan's eSIM read through `conn` (inside a transaction that changed it).
pub async fn esim_with(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
) -> Result<Esim, EsimError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{ESIM_SQL} WHERE e.id = $1 AND e.user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?
    .ok_or(EsimError::NotFound("eSIM"))?;
    Ok(esim_from_row(&row, now_ms())?)
}
