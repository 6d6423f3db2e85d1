//! Staff edits of matches and their categories. The database keeps them
//! consistent: a sale window that closes after kickoff violates
//! `SALE_WINDOW`, a capacity under the seats sold `CATEGORY_SOLD`, a second
//! category of the same name `CATEGORY_NAME`.

use sqlx::AnyConnection;

/// A club's (currency, name).
pub(in crate::tickets) async fn club(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    club_id: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT currency, name FROM clubs WHERE id = $1")
        .bind(club_id)
        .fetch_optional(conn)
        .await
}

pub(in crate::tickets) struct NewEventRow<'a> {
    pub id: &'a str,
    pub home_club_id: &'a str,
    pub away_club_id: Option<&'a str>,
    pub away_team: &'a str,
    pub competition: &'a str,
    pub venue: &'a str,
    pub kickoff_at: i64,
    pub sale_starts_at: i64,
    pub sale_ends_at: i64,
    pub per_fan_limit: i64,
    pub now: i64,
}

pub(in crate::tickets) async fn insert_event(
    conn: &mut AnyConnection,
    e: NewEventRow<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (id, home_club_id, away_club_id, away_team, competition, venue, kickoff_at,
                             sale_starts_at, sale_ends_at, per_fan_limit, tickets_issued, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11)",
    )
    .bind(e.id)
    .bind(e.home_club_id)
    .bind(e.away_club_id)
    .bind(e.away_team)
    .bind(e.competition)
    .bind(e.venue)
    .bind(e.kickoff_at)
    .bind(e.sale_starts_at)
    .bind(e.sale_ends_at)
    .bind(e.per_fan_limit)
    .bind(e.now)
    .execute(conn)
    .await?;
    Ok(())
}

pub(in crate::tickets) struct NewCategoryRow<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    pub name: &'a str,
    pub price: i64,
    pub currency: &'a str,
    pub capacity: i64,
    pub now: i64,
}

pub(in crate::tickets) async fn insert_category(
    conn: &mut AnyConnection,
    c: NewCategoryRow<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ticket_categories (id, event_id, name, price, currency, capacity, sold, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
    )
    .bind(c.id)
    .bind(c.event_id)
    .bind(c.name)
    .bind(c.price)
    .bind(c.currency)
    .bind(c.capacity)
    .bind(c.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// What an edit of a match changes (None: unchanged).
pub(in crate::tickets) struct EventChanges<'a> {
    pub competition: Option<&'a str>,
    pub venue: Option<&'a str>,
    pub kickoff_at: Option<i64>,
    pub sale_starts_at: Option<i64>,
    pub sale_ends_at: Option<i64>,
    pub per_fan_limit: Option<i64>,
    pub now: i64,
}

/// False when the change would move the kickoff or the sale of a match
/// whose result is recorded: a played match never goes back on sale.
pub(in crate::tickets) async fn update_event(
    conn: &mut AnyConnection,
    id: &str,
    c: EventChanges<'_>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE events SET competition = COALESCE($2, competition), venue = COALESCE($3, venue),
                kickoff_at = COALESCE($4, kickoff_at), sale_starts_at = COALESCE($5, sale_starts_at),
                sale_ends_at = COALESCE($6, sale_ends_at), per_fan_limit = COALESCE($7, per_fan_limit),
                updated_at = $8
         WHERE id = $1
           AND (($4 IS NULL AND $5 IS NULL AND $6 IS NULL)
                OR NOT EXISTS (SELECT 1 FROM match_results r WHERE r.event_id = $1))",
    )
    .bind(id)
    .bind(c.competition)
    .bind(c.venue)
    .bind(c.kickoff_at)
    .bind(c.sale_starts_at)
    .bind(c.sale_ends_at)
    .bind(c.per_fan_limit)
    .bind(c.now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// False when the match has no such category.
pub(in crate::tickets) async fn update_category(
    conn: &mut AnyConnection,
    event_id: &str,
    category_id: &str,
    price: Option<i64>,
    capacity: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE ticket_categories SET price = COALESCE($3, price), capacity = COALESCE($4, capacity)
         WHERE id = $1 AND event_id = $2",
    )
    .bind(category_id)
    .bind(event_id)
    .bind(price)
    .bind(capacity)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}
