//! All of the AI capability's SQL: what everyone bought (the model's input),
//! one fan's own data (their profile, history, ledger and activity), the
//! candidates on sale, results, and the built models.

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};

use crate::ai::recommend::Interaction;

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

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
struct CountRow {
    n: i64,
}

#[derive(sqlx::FromRow)]
struct SpendRow {
    currency: String,
    total: i64,
    n: i64,
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

#[derive(sqlx::FromRow)]
pub struct ProfileRow {
    pub club_id: Option<String>,
    pub club_name: Option<String>,
    pub club_country: Option<String>,
    pub club_currency: Option<String>,
    pub created_at: i64,
}

pub async fn profile(db: &AnyPool, fan: &str) -> Result<Option<ProfileRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.club_id, c.name AS club_name, c.country AS club_country,
                c.currency AS club_currency, u.created_at
           FROM users u LEFT JOIN clubs c ON c.id = u.club_id WHERE u.id = $1",
    )
    .bind(fan)
    .fetch_optional(db)
    .await
}

/// One of the fan's own rows, in one shape for one round trip: their
/// `profile` (id = club, title = club name, extra = club country), a
/// `follow`ed club (id, name, country), a `product` bought (id, name), a
/// `ticket` held (id = event, title = fixture, extra = country, status,
/// until = kick-off) or an `esim` (id = plan, title = plan name, extra =
/// the plan's countries, status, until = expiry).
#[derive(sqlx::FromRow, Debug)]
pub struct FanRow {
    pub kind: String,
    pub id: Option<String>,
    pub title: Option<String>,
    pub extra: Option<String>,
    pub status: Option<String>,
    pub at: i64,
    pub until: Option<i64>,
}

pub async fn fan_rows(db: &AnyPool, fan: &str) -> Result<Vec<FanRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT 'profile' AS kind, u.club_id AS id, c.name AS title, c.country AS extra,
                CAST(NULL AS TEXT) AS status, u.created_at AS at, CAST(NULL AS BIGINT) AS until
           FROM users u LEFT JOIN clubs c ON c.id = u.club_id WHERE u.id = $1
         UNION ALL
         SELECT 'follow', c.id, c.name, c.country, NULL, f.created_at, NULL
           FROM follows f JOIN clubs c ON c.id = f.target_id
          WHERE f.follower_id = $1 AND f.target_kind = 'club'
         UNION ALL
         SELECT 'product', l.product_id, l.name, l.club_id, NULL, o.created_at, NULL
           FROM orders o JOIN order_lines l ON l.order_id = o.id
          WHERE o.user_id = $1 AND o.status <> 'cancelled'
         UNION ALL
         SELECT 'ticket', t.event_id, c.name || ' – ' || e.away_team, c.country, t.status,
                t.created_at, e.kickoff_at
           FROM tickets t JOIN events e ON e.id = t.event_id JOIN clubs c ON c.id = e.home_club_id
          WHERE t.owner_id = $1 AND t.status IN ('valid', 'used')
         UNION ALL
         SELECT 'esim', e.plan_id, p.name, p.countries, e.status, e.created_at, e.expires_at
           FROM esims e JOIN esim_plans p ON p.id = e.plan_id
          WHERE e.user_id = $1 AND e.status <> 'failed'",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Clone)]
pub struct ClubRow {
    pub id: String,
    pub name: String,
    pub country: String,
}

pub async fn clubs(db: &AnyPool) -> Result<Vec<ClubRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, country FROM clubs ORDER BY id")
        .fetch_all(db)
        .await
}

pub async fn followed_clubs(db: &AnyPool, fan: &str) -> Result<Vec<ClubRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.name, c.country FROM follows f JOIN clubs c ON c.id = f.target_id
          WHERE f.follower_id = $1 AND f.target_kind = 'club' ORDER BY c.id",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Clone)]
pub struct LineRow {
    pub order_id: String,
    pub product_id: String,
    pub name: String,
    pub club_id: String,
    pub category: String,
    pub quantity: i64,
    pub total: i64,
    pub currency: String,
    pub created_at: i64,
}

/// The fan's shop purchases, one row per order line (with its order's total).
pub async fn order_lines(db: &AnyPool, fan: &str) -> Result<Vec<LineRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id AS order_id, l.product_id, l.name, l.club_id, p.category, l.quantity,
                o.total, o.currency, o.created_at
           FROM orders o
           JOIN order_lines l ON l.order_id = o.id
           JOIN products p ON p.id = l.product_id
          WHERE o.user_id = $1 AND o.status <> 'cancelled'
          ORDER BY o.created_at, l.line_no",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Clone)]
pub struct TicketRow {
    pub event_id: String,
    pub buyer_id: String,
    pub owner_id: String,
    pub status: String,
    pub checked_in: i64,
    pub price: i64,
    pub currency: String,
    pub created_at: i64,
    pub home_club_id: String,
    pub home_name: String,
    pub home_country: String,
    pub away_club_id: Option<String>,
    pub away_team: String,
    pub kickoff_at: i64,
}

/// Tickets the fan holds or bought (refunded and revoked ones excluded).
pub async fn tickets(db: &AnyPool, fan: &str) -> Result<Vec<TicketRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.event_id, t.buyer_id, t.owner_id, t.status,
                CASE WHEN t.first_used_at IS NULL THEN 0 ELSE 1 END AS checked_in,
                t.price, t.currency, t.created_at,
                e.home_club_id, c.name AS home_name, c.country AS home_country,
                e.away_club_id, e.away_team, e.kickoff_at
           FROM tickets t
           JOIN events e ON e.id = t.event_id
           JOIN clubs c ON c.id = e.home_club_id
          WHERE (t.owner_id = $1 OR t.buyer_id = $1) AND t.status IN ('valid', 'used')
          ORDER BY t.created_at",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Clone)]
pub struct EsimRow {
    pub plan_id: String,
    pub name: String,
    /// JSON array.
    pub countries: String,
    pub status: String,
    pub expires_at: Option<i64>,
    pub price: i64,
    pub currency: String,
    pub created_at: i64,
}

pub async fn esims(db: &AnyPool, fan: &str) -> Result<Vec<EsimRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.plan_id, p.name, p.countries, e.status, e.expires_at, e.price, e.currency, e.created_at
           FROM esims e JOIN esim_plans p ON p.id = e.plan_id
          WHERE e.user_id = $1 AND e.status <> 'failed'
          ORDER BY e.created_at",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct LedgerRow {
    pub kind: String,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub currency: String,
    pub amount: i64,
    pub created_at: i64,
}

/// The fan's payments for purchases (`purchase`, `ticket`, `esim`, and the
/// platform's `commission` part of each) and their refunds, from the ledger.
pub async fn spending(db: &AnyPool, fan: &str) -> Result<Vec<LedgerRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.kind, t.reference_type, t.reference_id, t.currency, t.amount, t.created_at
           FROM accounts a JOIN transfers t ON t.debit_account_id = a.id
          WHERE a.kind = 'user' AND a.owner_id = $1 AND t.kind IN ('purchase', 'ticket', 'esim', 'commission')
         UNION ALL
         SELECT t.kind, t.reference_type, t.reference_id, t.currency, t.amount, t.created_at
           FROM accounts a JOIN transfers t ON t.credit_account_id = a.id
          WHERE a.kind = 'user' AND a.owner_id = $1 AND t.kind = 'refund'",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Default)]
pub struct EngagementRow {
    pub messages: i64,
    pub posts: i64,
    pub likes: i64,
    pub comments: i64,
    pub recent: i64,
    pub last_30: i64,
    pub previous_30: i64,
}

pub async fn engagement(db: &AnyPool, fan: &str, now: i64) -> Result<EngagementRow, sqlx::Error> {
    let day = 86_400_000;
    sqlx::query_as(
        "SELECT
           (SELECT COUNT(*) FROM messages WHERE user_id = $1 AND deleted_at IS NULL) AS messages,
           (SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL) AS posts,
           (SELECT COUNT(*) FROM post_likes WHERE user_id = $1) AS likes,
           (SELECT COUNT(*) FROM post_comments WHERE user_id = $1 AND deleted_at IS NULL) AS comments,
           (SELECT COUNT(*) FROM messages WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $2)
             + (SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND created_at > $2)
             + (SELECT COUNT(*) FROM post_likes WHERE user_id = $1 AND created_at > $2)
             + (SELECT COUNT(*) FROM post_comments WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $2) AS recent,
           (SELECT COUNT(*) FROM messages WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $3)
             + (SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND created_at > $3)
             + (SELECT COUNT(*) FROM post_likes WHERE user_id = $1 AND created_at > $3)
             + (SELECT COUNT(*) FROM post_comments WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $3) AS last_30,
           (SELECT COUNT(*) FROM messages WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $4 AND created_at <= $3)
             + (SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND created_at > $4 AND created_at <= $3)
             + (SELECT COUNT(*) FROM post_likes WHERE user_id = $1 AND created_at > $4 AND created_at <= $3)
             + (SELECT COUNT(*) FROM post_comments WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $4 AND created_at <= $3) AS previous_30",
    )
    .bind(fan)
    .bind(now - 90 * day)
    .bind(now - 30 * day)
    .bind(now - 60 * day)
    .fetch_one(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct ProductRow {
    pub id: String,
    pub club_id: String,
    pub club_name: String,
    pub name: String,
    pub category: String,
    pub description: String,
    pub price: i64,
    pub currency: String,
}

/// Every product on sale with stock left.
pub async fn products_on_sale(db: &AnyPool) -> Result<Vec<ProductRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.club_id, c.name AS club_name, p.name, p.category, p.description, p.price, p.currency
           FROM products p JOIN clubs c ON c.id = p.club_id
          WHERE p.active = 1
            AND EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id AND v.stock > 0)",
    )
    .fetch_all(db)
    .await
}

const EVENT_COLUMNS: &str = "e.id, e.home_club_id, c.name AS home_name, c.country AS home_country,
     e.away_club_id, e.away_team, e.competition, e.venue, e.kickoff_at";

#[derive(sqlx::FromRow, Clone)]
pub struct EventRow {
    pub id: String,
    pub home_club_id: String,
    pub home_name: String,
    pub home_country: String,
    pub away_club_id: Option<String>,
    pub away_team: String,
    pub competition: String,
    pub venue: String,
    pub kickoff_at: i64,
    pub price_from: Option<i64>,
    pub currency: Option<String>,
}

/// Upcoming matches on sale now with seats left.
pub async fn events_on_sale(db: &AnyPool, now: i64) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS},
                (SELECT MIN(k.price) FROM ticket_categories k WHERE k.event_id = e.id AND k.sold < k.capacity) AS price_from,
                (SELECT MIN(k.currency) FROM ticket_categories k WHERE k.event_id = e.id) AS currency
           FROM events e JOIN clubs c ON c.id = e.home_club_id
          WHERE e.kickoff_at > $1 AND e.sale_starts_at <= $1 AND e.sale_ends_at > $1
            AND EXISTS (SELECT 1 FROM ticket_categories k WHERE k.event_id = e.id AND k.sold < k.capacity)
          ORDER BY e.kickoff_at, e.id"
    )))
    .bind(now)
    .fetch_all(db)
    .await
}

/// Upcoming matches of `clubs`, on sale or not (for predictions).
pub async fn upcoming_matches(
    db: &AnyPool,
    clubs: &[&str],
    now: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    if clubs.is_empty() {
        return Ok(Vec::new());
    }
    let p = placeholders(2, clubs.len());
    let sql = format!(
        "SELECT {EVENT_COLUMNS},
                CAST(NULL AS BIGINT) AS price_from, CAST(NULL AS TEXT) AS currency
           FROM events e JOIN clubs c ON c.id = e.home_club_id
          WHERE e.kickoff_at > $1 AND (e.home_club_id IN ({p}) OR e.away_club_id IN ({p}))
          ORDER BY e.kickoff_at, e.id LIMIT 50"
    );
    let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(now);
    for c in clubs {
        q = q.bind(*c);
    }
    q.fetch_all(db).await
}

#[derive(sqlx::FromRow, Clone)]
pub struct PlanRow {
    pub id: String,
    pub name: String,
    pub region: String,
    /// JSON array.
    pub countries: String,
    pub data_mb: Option<i64>,
    pub validity_days: i64,
    pub price: i64,
    pub currency: String,
}

pub async fn plans_on_sale(db: &AnyPool) -> Result<Vec<PlanRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, region, countries, data_mb, validity_days, price, currency
           FROM esim_plans WHERE active = 1 ORDER BY id",
    )
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct ResultRow {
    /// Recorded by an admin for an event (else shipped).
    pub admin: i64,
    pub played_on: i64,
    pub home_team: String,
    pub away_team: String,
    pub home_goals: i64,
    pub away_goals: i64,
}

pub async fn results(db: &AnyPool) -> Result<Vec<ResultRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT CASE WHEN event_id IS NULL THEN 0 ELSE 1 END AS admin, played_on, home_team, away_team, home_goals, away_goals
           FROM match_results ORDER BY played_on, id",
    )
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, PartialEq, Eq, Clone, Copy, Debug, Default)]
pub struct ResultsVersion {
    pub n: i64,
    pub latest: Option<i64>,
}

/// Changes whenever a result is added.
pub async fn results_version(db: &AnyPool) -> Result<ResultsVersion, sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*) AS n, MAX(created_at) AS latest FROM match_results")
        .fetch_one(db)
        .await
}

#[derive(sqlx::FromRow)]
pub struct FixtureRow {
    pub home_club_id: String,
    pub home_name: String,
    pub away_name: String,
    pub competition: String,
    pub kickoff_at: i64,
}

pub async fn fixture(db: &AnyPool, event: &str) -> Result<Option<FixtureRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.home_club_id, h.name AS home_name, COALESCE(a.name, e.away_team) AS away_name,
                e.competition, e.kickoff_at
           FROM events e JOIN clubs h ON h.id = e.home_club_id
           LEFT JOIN clubs a ON a.id = e.away_club_id
          WHERE e.id = $1",
    )
    .bind(event)
    .fetch_optional(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct RecordedRow {
    pub home_goals: i64,
    pub away_goals: i64,
}

pub async fn recorded_result(
    conn: &mut AnyConnection,
    event: &str,
) -> Result<Option<RecordedRow>, sqlx::Error> {
    sqlx::query_as("SELECT home_goals, away_goals FROM match_results WHERE event_id = $1")
        .bind(event)
        .fetch_optional(conn)
        .await
}

pub struct NewResultRow<'a> {
    pub competition: &'a str,
    pub season: &'a str,
    pub played_on: i64,
    pub home_team: &'a str,
    pub away_team: &'a str,
    pub home_goals: i64,
    pub away_goals: i64,
    pub event_id: Option<&'a str>,
    pub recorded_by: Option<&'a str>,
}

/// Inserts unless the event (or fixture) already has a result: true if inserted.
pub async fn insert_result(
    conn: &mut AnyConnection,
    r: &NewResultRow<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO match_results (id, competition, season, played_on, home_team, away_team,
                                    home_goals, away_goals, event_id, source, recorded_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT DO NOTHING",
    )
    .bind(crate::db::new_id())
    .bind(r.competition)
    .bind(r.season)
    .bind(r.played_on)
    .bind(r.home_team)
    .bind(r.away_team)
    .bind(r.home_goals)
    .bind(r.away_goals)
    .bind(r.event_id)
    .bind(if r.event_id.is_some() { "admin" } else { "dataset" })
    .bind(r.recorded_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts shipped results in batches (a few statements instead of a
/// thousand round trips at every start of a fresh database).
pub async fn insert_dataset(
    conn: &mut AnyConnection,
    rows: &[NewResultRow<'_>],
    now: i64,
) -> Result<(), sqlx::Error> {
    // 9 values a row: well under SQLite's 999 bound variables.
    for chunk in rows.chunks(100) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 9;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 'dataset')",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO match_results (id, competition, season, played_on, home_team, away_team,
                                        home_goals, away_goals, created_at, source)
             VALUES {} ON CONFLICT DO NOTHING",
            values.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(crate::db::new_id())
                .bind(r.competition)
                .bind(r.season)
                .bind(r.played_on)
                .bind(r.home_team)
                .bind(r.away_team)
                .bind(r.home_goals)
                .bind(r.away_goals)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn dataset_rows(db: &AnyPool) -> Result<i64, sqlx::Error> {
    let r: CountRow =
        sqlx::query_as("SELECT COUNT(*) AS n FROM match_results WHERE source = 'dataset'")
            .fetch_one(db)
            .await?;
    Ok(r.n)
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
