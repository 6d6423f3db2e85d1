//! Football clubs: the sellers, and each fan's favourite.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row, any::AnyRow};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Club {
    #[schema(example = "AS_MONACO")]
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub league: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// ISO 4217 currency the club sells in.
    pub currency: String,
    pub colors: ClubColors,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClubColors {
    pub primary: String,
    pub secondary: String,
}

#[derive(Serialize, ToSchema)]
pub struct ClubList {
    pub clubs: Vec<Club>,
}

#[derive(Serialize, ToSchema)]
pub struct ClubResponse {
    pub club: Club,
}

pub struct NewClub<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub short_name: &'a str,
    pub league: &'a str,
    pub country: &'a str,
    pub currency: &'a str,
    pub primary_color: &'a str,
    pub secondary_color: &'a str,
}

fn from_row(row: &AnyRow) -> Result<Club, sqlx::Error> {
    Ok(Club {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        short_name: row.try_get("short_name")?,
        league: row.try_get("league")?,
        country: row.try_get("country")?,
        currency: row.try_get("currency")?,
        colors: ClubColors {
            primary: row.try_get("primary_color")?,
            secondary: row.try_get("secondary_color")?,
        },
    })
}

const COLUMNS: &str =
    "id, name, short_name, league, country, currency, primary_color, secondary_color";

pub async fn list(pool: &sqlx::AnyPool) -> Result<Vec<Club>, sqlx::Error> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM clubs ORDER BY name"
    )))
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn find(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
) -> Result<Option<Club>, sqlx::Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM clubs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Inserts a club unless one with that id exists (demo data and admin tools).
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clubs))
        .routes(routes!(get_club))
}

/// Every club, by name.
#[utoipa::path(get, path = "", tag = "clubs", responses((status = 200, body = ClubList)))]
async fn list_clubs(State(state): State<AppState>) -> ApiResult<Json<ClubList>> {
    Ok(Json(ClubList {
        clubs: list(state.db.reader()).await?,
    }))
}

/// One club.
#[utoipa::path(get, path = "/{id}", tag = "clubs",
    params(("id" = String, Path, description = "club id, such as AS_MONACO")),
    responses((status = 200, body = ClubResponse), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn get_club(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClubResponse>> {
    let club = find(state.db.reader(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("club"))?;
    Ok(Json(ClubResponse { club }))
}
