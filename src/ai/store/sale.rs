//! What is on sale (products with stock, matches with seats, plans), the
//! matches to forecast, and the results the match model is fitted on.

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};

use super::CountRow;

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
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
