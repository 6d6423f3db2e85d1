//! eSIM rules: catalogue, purchase (money first, supplier second, refund on
//! failure), usage from the supplier's webhook, top-ups.

use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};

use crate::app::AppState;
use crate::db::{now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::esim::model::*;
use crate::notifications;
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::service::amount_error;

const DAY_MS: i64 = 86_400_000;

pub(crate) fn currency_of(code: &str) -> Currency {
    Currency::parse(code).unwrap_or(Currency::Eur)
}

fn data_text(mb: Option<i64>) -> String {
    match mb {
        None => "Unlimited".into(),
        Some(mb) if mb % 1024 == 0 => format!("{} GB", mb / 1024),
        Some(mb) => format!("{mb} MB"),
    }
}

const PLAN_COLUMNS: &str = "id, name, region, countries, data_mb, validity_days, validity_starts, price, currency, features, popular, active";

fn plan_from_row(r: &AnyRow) -> Result<(Plan, i64, bool), sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?);
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

pub async fn plans(state: &AppState, q: &PlanQuery) -> ApiResult<Vec<Plan>> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE active = 1 AND ($1 = '' OR LOWER(region) = LOWER($1))
         ORDER BY price, id"
    )))
    .bind(q.region.as_deref().unwrap_or(""))
    .fetch_all(state.db.reader())
    .await?;
    let country = q.country.as_deref().map(str::to_ascii_uppercase);
    Ok(rows
        .iter()
        .map(plan_from_row)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(p, _, _)| p)
        .filter(|p| country.as_ref().is_none_or(|c| p.countries.contains(c)))
        .collect())
}

pub(crate) async fn load_plan(state: &AppState, id: &str) -> ApiResult<(Plan, i64)> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(state.db.reader())
    .await?;
    match row.as_ref().map(plan_from_row).transpose()? {
        Some((plan, price, true)) => Ok((plan, price)),
        _ => Err(ApiError::not_found("eSIM plan")),
    }
}

pub async fn plan(state: &AppState, id: &str) -> ApiResult<Plan> {
    Ok(load_plan(state, id).await?.0)
}

const ESIM_SQL: &str = "
SELECT e.id, e.user_id, e.plan_id, e.status, e.iccid, e.matching_id, e.smdp_address, e.activation_code,
       e.data_total_mb, e.data_used_mb, e.validity_days, e.price, e.currency, e.first_used_at, e.expires_at,
       e.created_at, p.name AS plan_name, p.region AS plan_region
FROM esims e JOIN esim_plans p ON p.id = e.plan_id";

/// Expiry is a matter of time, so it is computed when read (and persisted by
/// the next webhook): a profile past its `expiresAt` shows `expired`.
fn esim_from_row(r: &AnyRow, now: i64) -> Result<Esim, sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?);
    let total: Option<i64> = r.try_get("data_total_mb")?;
    let used: i64 = r.try_get("data_used_mb")?;
    let expires_at: Option<i64> = r.try_get("expires_at")?;
    let mut status: String = r.try_get("status")?;
    if (status == "ready" || status == "active") && expires_at.is_some_and(|e| e <= now) {
        status = "expired".into();
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

/// One of the fan's eSIMs; another fan's is 404.
pub async fn esim(state: &AppState, user_id: &str, id: &str) -> ApiResult<Esim> {
    esim_with(&mut *state.db.reader().acquire().await?, user_id, id).await
}

/// A fan's eSIM read through `conn` (inside a transaction that changed it).
pub async fn esim_with(conn: &mut AnyConnection, user_id: &str, id: &str) -> ApiResult<Esim> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{ESIM_SQL} WHERE e.id = $1 AND e.user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("eSIM"))?;
    Ok(esim_from_row(&row, now_ms())?)
}

pub async fn my_esims(state: &AppState, user_id: &str) -> ApiResult<Vec<Esim>> {
    let now = now_ms();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{ESIM_SQL} WHERE e.user_id = $1 ORDER BY e.id DESC"
    )))
    .bind(user_id)
    .fetch_all(state.db.reader())
    .await?;
    Ok(rows
        .iter()
        .map(|r| esim_from_row(r, now))
        .collect::<Result<_, _>>()?)
}

/// v1.0's `GET /api/esim/active`: the most recent usable one.
pub async fn active(state: &AppState, user_id: &str) -> ApiResult<Esim> {
    my_esims(state, user_id)
        .await?
        .into_iter()
        .find(|e| e.status == "ready" || e.status == "active")
        .ok_or_else(|| ApiError::not_found("usable eSIM"))
}

pub(crate) fn supplier(
    state: &AppState,
) -> ApiResult<std::sync::Arc<dyn crate::esim::provider::EsimProvider>> {
    state
        .esim
        .clone()
        .ok_or_else(|| ApiError::unavailable("eSIM sales are not enabled on this server"))
}

pub async fn activation_code(
    state: &AppState,
    user_id: &str,
    id: &str,
) -> ApiResult<ActivationCodeResponse> {
    let e = esim(state, user_id, id).await?;
    match (e.iccid, e.activation_code, e.smdp_address, e.matching_id) {
        (Some(iccid), Some(code), Some(smdp), Some(matching)) => Ok(ActivationCodeResponse {
            esim_id: e.id,
            iccid,
            activation_code: code,
            smdp_address: smdp,
            matching_id: matching,
        }),
        _ => Err(ApiError::conflict(
            "esim_not_ready",
            format!("this eSIM is {}", e.status),
        )),
    }
}

/// Applies a verified supplier event. Returns false for a duplicate delivery.
pub async fn usage_event(state: &AppState, provider: &str, ev: &UsageEvent) -> ApiResult<bool> {
    let now = now_ms();
    let first_used = match &ev.first_used_at {
        Some(t) => Some(crate::tickets::model::parse_time("firstUsedAt", t)?),
        None => None,
    };
    if ev.used_mb.is_some_and(|u| !(0..=100_000_000).contains(&u)) {
        return Err(ApiError::field(
            "usedMb",
            "out_of_range",
            "must be between 0 and 100000000",
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let fresh = sqlx::query(
        "INSERT INTO esim_webhook_events (provider, event_id, received_at) VALUES ($1, $2, $3)
         ON CONFLICT (provider, event_id) DO NOTHING",
    )
    .bind(provider)
    .bind(&ev.event_id)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(false);
    }
    let row = sqlx::query("SELECT id, user_id FROM esims WHERE provider = $1 AND iccid = $2")
        .bind(provider)
        .bind(&ev.iccid)
        .fetch_optional(tx.conn())
        .await?;
    let Some(row) = row else {
        tracing::warn!(event = %ev.event_id, "eSIM event for an unknown profile ignored");
        tx.commit().await?;
        return Ok(true);
    };
    let id: String = row.try_get("id")?;
    let user_id: String = row.try_get("user_id")?;
    // Usage only grows; the first use starts the clock of first-use plans;
    // a profile that used all its data is depleted.
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
    .bind(&id)
    .bind(ev.used_mb.unwrap_or(0))
    .bind(first_used.or(ev.used_mb.filter(|u| *u > 0).map(|_| now)))
    .bind(DAY_MS)
    .bind(now)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE esims SET status = 'depleted', updated_at = $2
         WHERE id = $1 AND status IN ('ready', 'active') AND data_total_mb IS NOT NULL AND data_used_mb >= data_total_mb",
    )
    .bind(&id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let expired_by_supplier = ev.status.as_deref() == Some("expired");
    sqlx::query(
        "UPDATE esims SET status = 'expired', updated_at = $2
         WHERE id = $1 AND status IN ('ready', 'active') AND ($3 = 1 OR (expires_at IS NOT NULL AND expires_at <= $2))",
    )
    .bind(&id)
    .bind(now)
    .bind(i64::from(expired_by_supplier))
    .execute(tx.conn())
    .await?;
    // Each threshold is announced once: only the update that flips its flag notifies.
    let mut notes = Vec::new();
    for (flag, pct, title) in [
        ("notified_80", 80, "80% of your eSIM data used"),
        ("notified_100", 100, "Your eSIM data is used up"),
    ] {
        let crossed = sqlx::query(AssertSqlSafe(format!(
            "UPDATE esims SET {flag} = 1 WHERE id = $1 AND {flag} = 0 AND data_total_mb IS NOT NULL
             AND data_used_mb * 100 >= data_total_mb * {pct}"
        )))
        .bind(&id)
        .execute(tx.conn())
        .await?
        .rows_affected()
            == 1;
        if crossed {
            notes.push(
                notifications::notify(
                    tx.conn(),
                    &user_id,
                    "esim.usage",
                    title,
                    &format!("{pct}% of the data of your travel eSIM is used."),
                    Some(serde_json::json!({"esimId": id, "percent": pct})),
                )
                .await?,
            );
        }
    }
    tx.commit().await?;
    for n in &notes {
        notifications::publish(state, &user_id, n);
    }
    Ok(true)
}

pub async fn create_plan(state: &AppState, p: NewPlan) -> ApiResult<Plan> {
    let currency = match &p.currency {
        Some(c) => Currency::parse(c).ok_or_else(|| {
            ApiError::field("currency", "unsupported_currency", "unsupported currency")
        })?,
        None => Currency::Eur,
    };
    let price = p
        .price
        .parse(currency)
        .map_err(|e| amount_error("price", e))?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO esim_plans (id, name, region, countries, data_mb, validity_days, validity_starts, price, currency,
                                 features, popular, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&p.id)
    .bind(p.name.trim())
    .bind(p.region.trim().to_lowercase())
    .bind(serde_json::to_string(&p.countries).unwrap_or_else(|_| "[]".into()))
    .bind(p.data_mb)
    .bind(p.validity_days)
    .bind(p.validity_starts.as_deref().unwrap_or("first_use"))
    .bind(price)
    .bind(currency.code())
    .bind(serde_json::to_string(&p.features.unwrap_or_default()).unwrap_or_else(|_| "[]".into()))
    .bind(i64::from(p.popular.unwrap_or(false)))
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ApiError::conflict(
            "plan_exists",
            "a plan with this id exists",
        ));
    }
    tx.commit().await?;
    plan(state, &p.id).await
}

pub async fn update_plan(state: &AppState, id: &str, u: UpdatePlan) -> ApiResult<Plan> {
    let row = sqlx::query("SELECT currency FROM esim_plans WHERE id = $1")
        .bind(id)
        .fetch_optional(state.db.reader())
        .await?
        .ok_or_else(|| ApiError::not_found("eSIM plan"))?;
    let currency = currency_of(&row.try_get::<String, _>("currency")?);
    let price = u
        .price
        .as_ref()
        .map(|p| p.parse(currency).map_err(|e| amount_error("price", e)))
        .transpose()?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE esim_plans SET price = COALESCE($2, price), active = COALESCE($3, active), popular = COALESCE($4, popular),
                updated_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(price)
    .bind(u.active.map(i64::from))
    .bind(u.popular.map(i64::from))
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {PLAN_COLUMNS} FROM esim_plans WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(state.db.reader())
    .await?;
    Ok(plan_from_row(&row)?.0)
}
