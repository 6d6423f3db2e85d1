//! My notifications over HTTP.

use axum::Json;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::http::extract::{ApiQuery, AuthUser, RequestAuth};
use crate::notifications::{NotificationList, Notifier};
use crate::wallet::model::ListQuery;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Notifier: FromRef<S>,
    RequestAuth: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(mark_read))
}

/// My notifications, newest first.
#[utoipa::path(get, path = "", tag = "notifications",
    security(("bearerAuth" = [])), params(ListQuery),
    responses((status = 200, body = NotificationList)))]
async fn list(
    State(notifier): State<Notifier>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<NotificationList>> {
    Ok(Json(notifier.list(&user.id, &q).await?))
}

/// Mark one of my notifications as read.
#[utoipa::path(post, path = "/{id}/read", tag = "notifications", operation_id = "mark_notification_read",
    security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn mark_read(
    State(notifier): State<Notifier>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    notifier.mark_read(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
