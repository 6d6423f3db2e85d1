//! The public club list.

use axum::Json;
use axum::extract::{FromRef, Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clubs::{ClubList, ClubResponse, store};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_clubs))
        .routes(routes!(get_club))
}

/// Every club, by name.
#[utoipa::path(get, path = "", tag = "clubs", responses((status = 200, body = ClubList)))]
async fn list_clubs(State(db): State<Db>) -> ApiResult<Json<ClubList>> {
    Ok(Json(ClubList {
        clubs: store::list(db.reader()).await?,
    }))
}

/// One club.
#[utoipa::path(get, path = "/{id}", tag = "clubs",
    params(("id" = String, Path, description = "club id, such as AS_MONACO")),
    responses((status = 200, body = ClubResponse), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn get_club(State(db): State<Db>, Path(id): Path<String>) -> ApiResult<Json<ClubResponse>> {
    let club = store::find(db.reader(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("club"))?;
    Ok(Json(ClubResponse { club }))
}
