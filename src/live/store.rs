//! The live event log: what a reconnecting client gets again.

use sqlx::AnyConnection;

use crate::db::now_ms;

/// PostgreSQL hands out `seq` at insert, not at commit: two writers could
/// commit 11 before 10, and a client that saw 11 would never ask for 10. One
/// transaction-scoped advisory lock, taken just before the append and held to
/// commit, makes `seq` order commit order. SQLite has one writer already.
pub async fn order_lock(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock(7468501)")
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Appends an event inside the caller's transaction; returns its `seq`.
pub async fn append(
    conn: &mut AnyConnection,
    topic: &str,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<i64, sqlx::Error> {
    order_lock(conn).await?;
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO live_events (topic, kind, payload, created_at) VALUES ($1, $2, $3, $4)
         RETURNING seq",
    )
    .bind(topic)
    .bind(kind)
    .bind(payload.to_string())
    .bind(now_ms())
    .fetch_one(conn)
    .await?;
    Ok(seq)
}

#[derive(sqlx::FromRow)]
pub struct StoredEvent {
    pub seq: i64,
    pub topic: String,
    pub kind: String,
    pub payload: String,
}

/// What `user_id` may see after `after`, oldest first: their own topic and
/// the conversations they are a member of now.
pub async fn after(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, topic, kind, payload FROM live_events
         WHERE seq > $2 AND (topic = 'user:' || $1 OR topic IN (
             SELECT 'conversation:' || conversation_id FROM conversation_members WHERE user_id = $1))
         ORDER BY seq LIMIT $3",
    )
    .bind(user_id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The newest `seq` (0 on an empty log): where a new client starts.
pub async fn head(conn: impl sqlx::Executor<'_, Database = sqlx::Any>) -> Result<i64, sqlx::Error> {
    let (seq,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) AS seq FROM live_events")
        .fetch_one(conn)
        .await?;
    Ok(seq.unwrap_or(0))
}

/// The topics of the conversations `user_id` belongs to.
pub async fn conversation_topics(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT conversation_id FROM conversation_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id,)| format!("conversation:{id}"))
        .collect())
}

/// Forgets events older than `before` (ms): a client away longer reloads
/// through the REST lists instead.
pub async fn prune(conn: &mut AnyConnection, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM live_events WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn user_name(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(n,)| n))
}
