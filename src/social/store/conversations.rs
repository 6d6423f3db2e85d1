//! Conversations and their members.

use sqlx::AnyConnection;

use crate::social::store::messages::MessageRow;

/// A conversation as one member sees it, with its last message.
#[derive(sqlx::FromRow)]
pub struct ConversationRow {
    pub id: String,
    pub kind: String,
    pub name: Option<String>,
    pub club_id: Option<String>,
    pub owner_id: Option<String>,
    pub created_at: i64,
    pub activity_at: i64,
    pub last_read_seq: i64,
    /// The message my read marker stands on.
    pub last_read_id: Option<String>,
    pub member_count: i64,
    pub unread_count: i64,
    /// The lowest read marker of the other members (my messages they all read).
    pub others_read_seq: Option<i64>,
    pub lm_seq: Option<i64>,
    pub lm_id: Option<String>,
    pub lm_user_id: Option<String>,
    pub lm_author_name: Option<String>,
    pub lm_body: Option<String>,
    pub lm_created_at: Option<i64>,
    pub lm_edited_at: Option<i64>,
    pub lm_deleted_at: Option<i64>,
    pub lm_hidden_at: Option<i64>,
}

impl ConversationRow {
    pub fn last_message(&self) -> Option<MessageRow> {
        Some(MessageRow {
            seq: self.lm_seq?,
            id: self.lm_id.clone()?,
            conversation_id: self.id.clone(),
            user_id: self.lm_user_id.clone()?,
            author_name: self.lm_author_name.clone().unwrap_or_default(),
            body: self.lm_body.clone().unwrap_or_default(),
            created_at: self.lm_created_at?,
            edited_at: self.lm_edited_at,
            deleted_at: self.lm_deleted_at,
            hidden_at: self.lm_hidden_at,
        })
    }
}

const SELECT_MINE: &str = "SELECT c.id, c.kind, c.name, c.club_id, c.owner_id, c.created_at, c.activity_at,
        m.last_read_seq,
        (SELECT r.id FROM messages r WHERE r.seq = m.last_read_seq) AS last_read_id,
        (SELECT COUNT(*) FROM conversation_members x WHERE x.conversation_id = c.id) AS member_count,
        (SELECT COUNT(*) FROM messages g WHERE g.conversation_id = c.id AND g.seq > m.last_read_seq
            AND g.user_id <> m.user_id AND g.deleted_at IS NULL AND g.hidden_at IS NULL) AS unread_count,
        (SELECT MIN(x.last_read_seq) FROM conversation_members x
            WHERE x.conversation_id = c.id AND x.user_id <> m.user_id) AS others_read_seq,
        lm.seq AS lm_seq, lm.id AS lm_id, lm.user_id AS lm_user_id, lu.name AS lm_author_name,
        lm.body AS lm_body, lm.created_at AS lm_created_at, lm.edited_at AS lm_edited_at,
        lm.deleted_at AS lm_deleted_at, lm.hidden_at AS lm_hidden_at
    FROM conversations c
    JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $1
    LEFT JOIN messages lm ON lm.seq = c.last_message_seq
    LEFT JOIN users lu ON lu.id = lm.user_id";

/// My conversations, most recently active first, after the cursor
/// (`activity_at`, `id`) of the previous page.
pub async fn mine(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    let (at, id) = after.unwrap_or((i64::MAX, ""));
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_MINE}
         WHERE ($2 = '' OR c.activity_at < $3 OR (c.activity_at = $3 AND c.id < $2))
         ORDER BY c.activity_at DESC, c.id DESC LIMIT $4"
    )))
    .bind(user_id)
    .bind(id)
    .bind(at)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One conversation, if `user_id` is a member.
pub async fn one(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    id: &str,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_MINE} WHERE c.id = $2"
    )))
    .bind(user_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// What a member's rights in a conversation depend on.
#[derive(sqlx::FromRow)]
pub struct Membership {
    pub kind: String,
    pub club_id: Option<String>,
    pub owner_id: Option<String>,
    pub direct_key: Option<String>,
}

/// The conversation, if `user_id` is a member of it.
pub async fn membership(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    conversation_id: &str,
    user_id: &str,
) -> Result<Option<Membership>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.kind, c.club_id, c.owner_id, c.direct_key FROM conversations c
         JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $2
         WHERE c.id = $1",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

pub async fn by_direct_key(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    key: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM conversations WHERE direct_key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id,)| id))
}

pub async fn club_room(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    club_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM conversations WHERE club_id = $1")
        .bind(club_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(id,)| id))
}

pub struct NewConversation<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub name: Option<&'a str>,
    pub owner_id: Option<&'a str>,
    pub club_id: Option<&'a str>,
    pub direct_key: Option<&'a str>,
    pub now: i64,
}

/// False when a direct conversation of the same pair, or the club's room,
/// already exists (the unique keys decide, so two racing requests agree).
pub async fn insert(conn: &mut AnyConnection, c: NewConversation<'_>) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO conversations (id, kind, name, owner_id, club_id, direct_key, activity_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING",
    )
    .bind(c.id)
    .bind(c.kind)
    .bind(c.name)
    .bind(c.owner_id)
    .bind(c.club_id)
    .bind(c.direct_key)
    .bind(c.now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Adds a member whose read marker starts at the newest message (a fan
/// joining a busy room does not start with thousands unread). False when
/// already a member.
pub async fn add_member(
    conn: &mut AnyConnection,
    conversation_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO conversation_members (conversation_id, user_id, joined_at, last_read_seq)
         SELECT id, $2, $3, COALESCE(last_message_seq, 0) FROM conversations WHERE id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(conversation_id)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn remove_member(
    conn: &mut AnyConnection,
    conversation_id: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let n =
        sqlx::query("DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2")
            .bind(conversation_id)
            .bind(user_id)
            .execute(conn)
            .await?
            .rows_affected();
    Ok(n == 1)
}

/// A group whose owner left passes to its longest-standing member.
pub async fn pass_ownership(
    conn: &mut AnyConnection,
    conversation_id: &str,
    from: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE conversations SET owner_id = (
             SELECT user_id FROM conversation_members WHERE conversation_id = $1
             ORDER BY joined_at, user_id LIMIT 1)
         WHERE id = $1 AND owner_id = $2
           AND EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $1)",
    )
    .bind(conversation_id)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn member_count(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    conversation_id: &str,
) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) AS n FROM conversation_members WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_one(conn)
            .await?;
    Ok(n)
}

/// The first members (by joining order), with their names.
pub async fn members(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    conversation_id: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.name FROM conversation_members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = $1 ORDER BY m.joined_at, u.id LIMIT $2",
    )
    .bind(conversation_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The club whose room a conversation is (`Some(None)`: not a club room).
pub async fn club_of(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT club_id FROM conversations WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(c,)| c))
}
