//! Messages and read markers.

use sqlx::AnyConnection;

#[derive(sqlx::FromRow, Clone)]
pub struct MessageRow {
    pub seq: i64,
    pub id: String,
    pub conversation_id: String,
    pub user_id: String,
    pub author_name: String,
    pub body: String,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub hidden_at: Option<i64>,
}

const SELECT: &str =
    "SELECT g.seq, g.id, g.conversation_id, g.user_id, u.name AS author_name, g.body,
        g.created_at, g.edited_at, g.deleted_at, g.hidden_at
    FROM messages g JOIN users u ON u.id = g.user_id";

/// Inserts a message; the caller holds the log's order lock, so `seq`
/// (returned) follows commit order and history pages never skip one.
pub async fn insert(
    conn: &mut AnyConnection,
    id: &str,
    conversation_id: &str,
    user_id: &str,
    body: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO messages (id, conversation_id, user_id, body, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING seq",
    )
    .bind(id)
    .bind(conversation_id)
    .bind(user_id)
    .bind(body)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE conversations SET last_message_seq = $2, activity_at = $3 WHERE id = $1")
        .bind(conversation_id)
        .bind(seq)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(seq)
}

pub async fn get(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
) -> Result<Option<MessageRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE g.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Newest first, older than `before` (a `seq`; 0 for the newest page).
pub async fn page(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    conversation_id: &str,
    before: i64,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE g.conversation_id = $1 AND ($2 = 0 OR g.seq < $2)
         ORDER BY g.seq DESC LIMIT $3"
    )))
    .bind(conversation_id)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The author's edit of a message still shown. False otherwise.
pub async fn edit(
    conn: &mut AnyConnection,
    id: &str,
    author: &str,
    body: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE messages SET body = $3, edited_at = $4
         WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL AND hidden_at IS NULL",
    )
    .bind(id)
    .bind(author)
    .bind(body)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The author deletes: the text is gone for good. False when already deleted.
pub async fn delete(
    conn: &mut AnyConnection,
    id: &str,
    author: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE messages SET body = '', deleted_at = $3
         WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(author)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A moderator hides: members no longer see the text, which is kept as
/// evidence. False when already hidden.
pub async fn hide(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE messages SET hidden_at = $3, hidden_by = $2 WHERE id = $1 AND hidden_at IS NULL",
    )
    .bind(id)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The newest message's `seq` in a conversation (0 when empty).
pub async fn newest(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    conversation_id: &str,
) -> Result<i64, sqlx::Error> {
    let (seq,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(seq) AS seq FROM messages WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_one(conn)
            .await?;
    Ok(seq.unwrap_or(0))
}

/// Moves a member's read marker forward only (an older position changes nothing).
pub async fn mark_read(
    conn: &mut AnyConnection,
    conversation_id: &str,
    user_id: &str,
    seq: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE conversation_members SET last_read_seq = $3
         WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3",
    )
    .bind(conversation_id)
    .bind(user_id)
    .bind(seq)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A member's read marker, unread count and the lowest marker of the others.
#[derive(sqlx::FromRow)]
pub struct ReadRow {
    pub last_read_seq: i64,
    pub unread_count: i64,
    pub others_read_seq: Option<i64>,
    pub last_read_id: Option<String>,
}

pub async fn read_state(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    conversation_id: &str,
    user_id: &str,
) -> Result<Option<ReadRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.last_read_seq,
            (SELECT COUNT(*) FROM messages g WHERE g.conversation_id = m.conversation_id
                AND g.seq > m.last_read_seq AND g.user_id <> m.user_id
                AND g.deleted_at IS NULL AND g.hidden_at IS NULL) AS unread_count,
            (SELECT MIN(x.last_read_seq) FROM conversation_members x
                WHERE x.conversation_id = m.conversation_id AND x.user_id <> m.user_id) AS others_read_seq,
            (SELECT g.id FROM messages g WHERE g.seq = m.last_read_seq) AS last_read_id
         FROM conversation_members m WHERE m.conversation_id = $1 AND m.user_id = $2",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}
