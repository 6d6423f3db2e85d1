//! All of the AI capability's SQL: what everyone bought (the model's input)
//! and the built models here; one fan's own rows in `fan`; what is on sale
//! and the match results in `sale`.

mod fan;
mod sale;

pub use fan::*;
pub use sale::*;

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool};

use crate::ai::recommend::Interaction;

#[derive(sqlx::FromRow)]
struct InteractionRow {
    fan: String,
    item: String,
    at: i64,
}

/// Every fan's purchases, tickets and eSIMs, as `(fan, item key, when)`.
pub async fn interactions(db: &AnyPool) -> Result<Vec<Interaction>, sqlx::Error> {
    let rows: Vec<InteractionRow> = sqlx::query_as(
        "SELECT o.user_id AS fan, 'product:' || l.product_id AS item, o.created_at AS at
           FROM orders o JOIN order_lines l ON l.order_id = o.id
          WHERE o.status <> 'cancelled'
         UNION ALL
         SELECT t.buyer_id, 'event:' || t.event_id, t.created_at
           FROM tickets t WHERE t.status IN ('valid', 'used')
         UNION ALL
         SELECT e.user_id, 'esim_plan:' || e.plan_id, e.created_at
           FROM esims e WHERE e.status <> 'failed'",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Interaction {
            fan: r.fan,
            item: r.item,
            at: r.at,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct FanClubRow {
    id: String,
    club_id: String,
}

/// Each fan's club.
pub async fn fan_clubs(db: &AnyPool) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<FanClubRow> =
        sqlx::query_as("SELECT id, club_id FROM users WHERE club_id IS NOT NULL")
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.club_id)).collect())
}

/// What the average fan does: the priors of one fan's forecasts.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Population {
    pub fans: u32,
    /// Messages, posts, comments and likes per fan in the last 90 days.
    pub engagement_per_fan: f64,
    /// Purchases per fan per day over the last 180 days.
    pub purchases_per_fan_day: f64,
    /// Average purchase per currency, minor units.
    pub average_purchase: HashMap<String, i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct CountRow {
    pub(crate) n: i64,
}

#[derive(sqlx::FromRow)]
struct SpendRow {
    currency: String,
    total: i64,
    pub(crate) n: i64,
}

pub async fn population(db: &AnyPool, now: i64) -> Result<Population, sqlx::Error> {
    let since90 = now - 90 * 86_400_000;
    let since180 = now - 180 * 86_400_000;
    let fans: CountRow = sqlx::query_as("SELECT COUNT(*) AS n FROM users WHERE role = 'fan'")
        .fetch_one(db)
        .await?;
    let actions: CountRow = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM messages WHERE created_at > $1)
              + (SELECT COUNT(*) FROM posts WHERE created_at > $1)
              + (SELECT COUNT(*) FROM post_comments WHERE created_at > $1)
              + (SELECT COUNT(*) FROM post_likes WHERE created_at > $1) AS n",
    )
    .bind(since90)
    .fetch_one(db)
    .await?;
    let spend: Vec<SpendRow> = sqlx::query_as(
        "SELECT currency, CAST(SUM(total) AS BIGINT) AS total, COUNT(*) AS n FROM (
             SELECT currency, total FROM orders WHERE status <> 'cancelled' AND created_at > $1
             UNION ALL
             SELECT currency, CAST(SUM(price) AS BIGINT) AS total FROM tickets
              WHERE status IN ('valid', 'used') AND created_at > $1
              GROUP BY buyer_id, event_id, created_at, currency
             UNION ALL
             SELECT currency, price AS total FROM esims WHERE status <> 'failed' AND created_at > $1
         ) p GROUP BY currency",
    )
    .bind(since180)
    .fetch_all(db)
    .await?;
    let fan_count = fans.n.max(1) as f64;
    let purchases: i64 = spend.iter().map(|s| s.n).sum();
    Ok(Population {
        fans: fans.n as u32,
        engagement_per_fan: actions.n as f64 / fan_count,
        purchases_per_fan_day: purchases as f64 / fan_count / 180.0,
        average_purchase: spend
            .into_iter()
            .filter(|s| s.n > 0)
            .map(|s| (s.currency, s.total / s.n))
            .collect(),
    })
}

pub async fn save_model(
    conn: &mut AnyConnection,
    built_at: i64,
    fans: u32,
    interactions: u32,
    build_ms: u64,
    payload: &str,
) -> Result<String, sqlx::Error> {
    let id = crate::db::new_id();
    sqlx::query(
        "INSERT INTO ai_models (id, built_at, fans, interactions, build_ms, payload)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(built_at)
    .bind(i64::from(fans))
    .bind(i64::from(interactions))
    .bind(build_ms as i64)
    .bind(payload)
    .execute(&mut *conn)
    .await?;
    // Keep the three newest: enough to look back at, never a growing table.
    sqlx::query(
        "DELETE FROM ai_models WHERE id NOT IN
           (SELECT id FROM (SELECT id FROM ai_models ORDER BY built_at DESC, id DESC LIMIT 3) kept)",
    )
    .execute(conn)
    .await?;
    Ok(id)
}

#[derive(sqlx::FromRow, Clone, Debug, PartialEq, Eq)]
pub struct ModelHead {
    pub id: String,
    pub built_at: i64,
}

pub async fn newest_model(db: &AnyPool) -> Result<Option<ModelHead>, sqlx::Error> {
    sqlx::query_as("SELECT id, built_at FROM ai_models ORDER BY built_at DESC, id DESC LIMIT 1")
        .fetch_optional(db)
        .await
}

#[derive(sqlx::FromRow)]
struct PayloadRow {
    payload: String,
}

pub async fn model_payload(db: &AnyPool, id: &str) -> Result<Option<String>, sqlx::Error> {
    let r: Option<PayloadRow> = sqlx::query_as("SELECT payload FROM ai_models WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(r.map(|r| r.payload))
}

/// Takes the rebuild lease until `until` unless another holder has it.
pub async fn take_lease(
    conn: &mut AnyConnection,
    holder: &str,
    now: i64,
    until: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE ai_jobs SET holder = $1, until = $2 WHERE name = 'rebuild' AND (until < $3 OR holder = $1)",
    )
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn release_lease(conn: &mut AnyConnection, holder: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE ai_jobs SET until = 0 WHERE name = 'rebuild' AND holder = $1")
        .bind(holder)
        .execute(conn)
        .await?;
    Ok(())
}
