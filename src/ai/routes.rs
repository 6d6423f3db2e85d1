//! Recommendations, insights, predictions and match results over HTTP.

use axum::Json;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ai::Ai;
use crate::ai::model::*;
use crate::error::{ApiResult, Problem};
use crate::http::extract::{ApiJson, ApiQuery, AuthUser, RequestAuth};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Ai: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(recommendations))
        .routes(routes!(insights))
        .routes(routes!(predictions))
}

pub fn admin_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Ai: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(record_result))
        .routes(routes!(rebuild))
}

/// What to buy, attend or travel with next, each with the reason and the
/// evidence kind behind it. Products already bought, matches already
/// ticketed and plans with a usable eSIM are left out, as is anything
/// inactive, sold out or past.
#[utoipa::path(get, path = "/recommendations", tag = "ai", params(RecommendationsQuery),
    security(("bearerAuth" = [])),
    responses((status = 200, body = Recommendations)))]
async fn recommendations(
    State(ai): State<Ai>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<RecommendationsQuery>,
) -> ApiResult<Json<Recommendations>> {
    let limit = q.limit.unwrap_or(10).clamp(1, 50) as usize;
    Ok(Json(ai.recommendations(&user, limit).await?))
}

/// What my own purchases, tickets, eSIMs, follows and activity say about me,
/// each figure with its evidence.
#[utoipa::path(get, path = "/insights", tag = "ai", security(("bearerAuth" = [])),
    responses((status = 200, body = Insights)))]
async fn insights(State(ai): State<Ai>, user: AuthUser) -> ApiResult<Json<Insights>> {
    Ok(Json(ai.insights(&user).await?))
}

/// Outcome probabilities of my clubs' upcoming matches, and my purchase,
/// engagement and value forecasts with the method behind them.
#[utoipa::path(get, path = "/predictions", tag = "ai", security(("bearerAuth" = [])),
    responses((status = 200, body = Predictions)))]
async fn predictions(State(ai): State<Ai>, user: AuthUser) -> ApiResult<Json<Predictions>> {
    Ok(Json(ai.predictions(&user).await?))
}

/// Record the final score of a played match (staff of the home club,
/// admins): 201, then 200 for the same score again; another score is 409
/// `result_already_recorded`; a match not yet kicked off is 409
/// `match_not_played`. The match model is refitted at once.
#[utoipa::path(post, path = "/events/{id}/result", tag = "admin", security(("bearerAuth" = [])),
    params(("id" = String, Path)), request_body = NewResult,
    responses((status = 201, body = RecordedResult), (status = 200, body = RecordedResult),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn record_result(
    State(ai): State<Ai>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewResult>,
) -> ApiResult<(StatusCode, Json<RecordedResult>)> {
    let (recorded, created) = ai.record_result(&user, &id, &body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(recorded)))
}

/// Rebuild the recommendation model now (admins); every instance serves
/// it within 30 seconds, this one at once.
#[utoipa::path(post, path = "/ai/rebuild", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, body = RebuildReport),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn rebuild(State(ai): State<Ai>, user: AuthUser) -> ApiResult<Json<RebuildReport>> {
    user.require_admin().map_err(crate::ai::AiError::from)?;
    Ok(Json(ai.rebuild().await?))
}
