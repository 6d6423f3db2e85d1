//! In-app notifications: written in the transaction of the event they announce,
//! pushed to live subscribers through the fan-out after commit.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::db::{new_id, now_ms, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, AuthUser};
use std::sync::Arc;

use crate::infra::fanout::{Event, Fanout};
use crate::wallet::model::ListQuery;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    /// `wallet.received`, `wallet.deposit`, `esim.usage`, ...
    pub kind: String,
    pub title: String,
    pub body: String,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    pub read: bool,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
    pub unread: i64,
    pub next_cursor: Option<String>,
}

/// Records a notification inside the caller's transaction; publish it with
/// [`publish`] once that transaction has committed.
pub async fn notify(
    conn: &mut AnyConnection,
    user_id: &str,
    kind: &str,
    title: &str,
    body: &str,
    data: Option<serde_json::Value>,
) -> Result<Notification, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, title, body, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(kind)
    .bind(title)
    .bind(body)
    .bind(data.as_ref().map(|d| d.to_string()))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(Notification {
        id,
        kind: kind.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        data,
        read: false,
        created_at: rfc3339(now),
    })
}

/// Pushes committed notifications to their users' live subscribers.
#[derive(Clone)]
pub struct Notifier {
    fanout: Arc<dyn Fanout>,
}

impl Notifier {
    pub fn new(fanout: Arc<dyn Fanout>) -> Self {
        Self { fanout }
    }

    pub fn publish(&self, user_id: &str, n: &Notification) {
        self.fanout.publish(Event {
            topic: format!("user:{user_id}"),
            kind: "notification.created".into(),
            payload: serde_json::to_value(n).unwrap_or_default(),
        });
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(mark_read))
}

/// My notifications, newest first.
#[utoipa::path(get, path = "", tag = "notifications",
    security(("bearerAuth" = [])), params(ListQuery),
    responses((status = 200, body = NotificationList)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<NotificationList>> {
    let limit = q.limit.unwrap_or(20);
    let offset = if q.cursor.is_some() {
        0
    } else {
        q.offset.unwrap_or(0)
    };
    let rows = sqlx::query(
        "SELECT id, kind, title, body, data, read_at, created_at FROM notifications
         WHERE user_id = $1 AND ($2 = '' OR id < $2)
         ORDER BY id DESC LIMIT $3 OFFSET $4",
    )
    .bind(&user.id)
    .bind(q.cursor.as_deref().unwrap_or(""))
    .bind(limit + 1)
    .bind(offset)
    .fetch_all(state.db.reader())
    .await?;
    let mut notifications = rows
        .iter()
        .map(|r| {
            let data: Option<String> = r.try_get("data")?;
            Ok(Notification {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                data: data.and_then(|d| serde_json::from_str(&d).ok()),
                read: r.try_get::<Option<i64>, _>("read_at")?.is_some(),
                created_at: rfc3339(r.try_get("created_at")?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let next_cursor = crate::http::validate::next_page(&mut notifications, limit, |n| n.id.clone());
    let unread: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(&user.id)
    .fetch_one(state.db.reader())
    .await?
    .try_get("n")?;
    Ok(Json(NotificationList {
        notifications,
        unread,
        next_cursor,
    }))
}

/// Mark one of my notifications as read.
#[utoipa::path(post, path = "/{id}/read", tag = "notifications",
    security(("bearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn mark_read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE notifications SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND user_id = $2",
    )
    .bind(&id)
    .bind(&user.id)
    .bind(now_ms())
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    if n == 0 {
        return Err(ApiError::not_found("notification"));
    }
    Ok(StatusCode::NO_CONTENT)
}
