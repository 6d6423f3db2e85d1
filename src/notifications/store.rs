//! The notifications table.

use sqlx::AnyConnection;

use crate::db::{new_id, now_ms, rfc3339};
use crate::notifications::Notification;

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

/// A notification as stored.
#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    kind: String,
    title: String,
    body: String,
    data: Option<String>,
    read_at: Option<i64>,
    created_at: i64,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Notification {
        Notification {
            id: r.id,
            kind: r.kind,
            title: r.title,
            body: r.body,
            data: r.data.and_then(|d| serde_json::from_str(&d).ok()),
            read: r.read_at.is_some(),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// A page of a user's notifications, newest first, after `cursor` (an id).
pub async fn page(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    cursor: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Notification>, sqlx::Error> {
    let rows: Vec<NotificationRow> = sqlx::query_as(
        "SELECT id, kind, title, body, data, read_at, created_at FROM notifications
         WHERE user_id = $1 AND ($2 = '' OR id < $2)
         ORDER BY id DESC LIMIT $3 OFFSET $4",
    )
    .bind(user_id)
    .bind(cursor.unwrap_or(""))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Notification::from).collect())
}

pub async fn unread(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// False when the user has no such notification.
pub async fn mark_read(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE notifications SET read_at = COALESCE(read_at, $3) WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .bind(now_ms())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}
