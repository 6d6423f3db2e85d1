//! The clubs table.

use crate::clubs::{Club, ClubColors, NewClub};

/// A club as stored.
#[derive(sqlx::FromRow)]
struct ClubRow {
    id: String,
    name: String,
    short_name: String,
    league: String,
    country: String,
    currency: String,
    primary_color: String,
    secondary_color: String,
}

impl From<ClubRow> for Club {
    fn from(r: ClubRow) -> Club {
        Club {
            id: r.id,
            name: r.name,
            short_name: r.short_name,
            league: r.league,
            country: r.country,
            currency: r.currency,
            colors: ClubColors {
                primary: r.primary_color,
                secondary: r.secondary_color,
            },
        }
    }
}

pub async fn list(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
) -> Result<Vec<Club>, sqlx::Error> {
    let rows: Vec<ClubRow> = sqlx::query_as(
        "SELECT id, name, short_name, league, country, currency, primary_color, secondary_color
         FROM clubs ORDER BY name",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Club::from).collect())
}

pub async fn insert_if_absent(
    conn: &mut sqlx::AnyConnection,
    c: &NewClub<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO clubs (id, name, short_name, league, country, currency, primary_color, secondary_color, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(c.id)
    .bind(c.name)
    .bind(c.short_name)
    .bind(c.league)
    .bind(c.country)
    .bind(c.currency)
    .bind(c.primary_color)
    .bind(c.secondary_color)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
