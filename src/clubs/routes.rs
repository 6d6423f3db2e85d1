//! The public club list.

use axum::Json;
use axum::extract::{FromRef, Path, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clubs::{ClubList, ClubResponse, Clubs};
use crate::error::{ApiError, ApiResult};
use crate::http::cache::PublicRead;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Clubs: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_clubs))
        .routes(routes!(get_club))
}

/// Every club, by name.
#[utoipa::path(get, path = "", tag = "clubs", responses((status = 200, body = ClubList)))]
async fn list_clubs(State(clubs): State<Clubs>, read: PublicRead) -> ApiResult<Response> {
    let list = clubs.list().await?;
    Ok(read.answer(&list))
}

/// One club.
#[utoipa::path(get, path = "/{id}", tag = "clubs",
    params(("id" = String, Path, description = "club id, such as AS_MONACO")),
    responses((status = 200, body = ClubResponse), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn get_club(
    State(clubs): State<Clubs>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClubResponse>> {
    let club = clubs
        .find(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("club"))?;
    Ok(Json(ClubResponse { club }))
}
