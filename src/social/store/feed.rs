//! Posts, likes, comments and follows.

use sqlx::AnyConnection;

#[derive(sqlx::FromRow)]
pub struct PostRow {
    pub id: String,
    pub author_id: String,
    pub author_name: String,
    pub club_id: Option<String>,
    pub club_name: Option<String>,
    pub content: String,
    pub image_url: Option<String>,
    pub like_count: i64,
    pub comment_count: i64,
    pub created_at: i64,
    pub liked: i64,
    pub score: i64,
}

/// Newest first, with each like or comment worth one or two minutes of
/// youth, up to twelve hours: a lively post stays near the top a while, a
/// stale one cannot buy its way up forever.
macro_rules! score {
    () => {
        "(p.created_at + 60000 * CASE WHEN p.like_count + 2 * p.comment_count > 720 THEN 720
            ELSE p.like_count + 2 * p.comment_count END)"
    };
}

macro_rules! select_posts {
    () => {
        concat!(
            "SELECT p.id, p.author_id, u.name AS author_name, p.club_id, cl.name AS club_name,
                p.content, p.image_url, p.like_count, p.comment_count, p.created_at,
                (SELECT COUNT(*) FROM post_likes l WHERE l.post_id = p.id AND l.user_id = $1) AS liked,
                ",
            score!(),
            " AS score
             FROM posts p JOIN users u ON u.id = p.author_id LEFT JOIN clubs cl ON cl.id = p.club_id"
        )
    };
}

/// What `$1` (the reader, whose club is `$2`) sees: club posts of their club
/// and of the clubs they follow, posts of the fans they follow, their own;
/// nothing deleted, hidden, or by someone they blocked.
macro_rules! feed_filter {
    () => {
        " WHERE p.deleted_at IS NULL AND p.hidden_at IS NULL
            AND (p.author_id = $1
                 OR (p.club_id IS NOT NULL AND (p.club_id = $2 OR p.club_id IN
                     (SELECT target_id FROM follows WHERE follower_id = $1 AND target_kind = 'club')))
                 OR (p.club_id IS NULL AND p.author_id IN
                     (SELECT target_id FROM follows WHERE follower_id = $1 AND target_kind = 'user')))
            AND p.author_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = $1)"
    };
}

/// A page of the feed, after the cursor (`score`, `id`) or at `offset`.
pub async fn feed(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    reader: &str,
    club: Option<&str>,
    after: Option<(i64, &str)>,
    limit: i64,
    offset: i64,
) -> Result<Vec<PostRow>, sqlx::Error> {
    let (score, id) = after.unwrap_or((i64::MAX, ""));
    sqlx::query_as(concat!(
        select_posts!(),
        feed_filter!(),
        " AND ($3 = '' OR ",
        score!(),
        " < $4 OR (",
        score!(),
        " = $4 AND p.id < $3))
        ORDER BY score DESC, p.id DESC LIMIT $5 OFFSET $6"
    ))
    .bind(reader)
    .bind(club)
    .bind(id)
    .bind(score)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await
}

pub async fn feed_total(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    reader: &str,
    club: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(concat!("SELECT COUNT(*) AS n FROM posts p", feed_filter!()))
        .bind(reader)
        .bind(club)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// A post anyone signed in may open: not deleted, not hidden, not by
/// someone the reader blocked.
pub async fn post(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    reader: &str,
    id: &str,
) -> Result<Option<PostRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_posts!(),
        " WHERE p.id = $2 AND p.deleted_at IS NULL AND p.hidden_at IS NULL
            AND p.author_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = $1)"
    ))
    .bind(reader)
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn insert_post(
    conn: &mut AnyConnection,
    id: &str,
    author: &str,
    club_id: Option<&str>,
    content: &str,
    image_url: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO posts (id, author_id, club_id, content, image_url, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(author)
    .bind(club_id)
    .bind(content)
    .bind(image_url)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The author deletes their post. False when it is not theirs or gone.
pub async fn delete_post(
    conn: &mut AnyConnection,
    id: &str,
    author: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE posts SET deleted_at = $3 WHERE id = $1 AND author_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(author)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Who wrote a post and in which club's space it is (its club, or its
/// author's club for a fan's post).
#[derive(sqlx::FromRow)]
pub struct PostSpace {
    pub author_id: String,
    pub club_id: Option<String>,
}

pub async fn post_space(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: &str,
) -> Result<Option<PostSpace>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.author_id, COALESCE(p.club_id, u.club_id) AS club_id
         FROM posts p JOIN users u ON u.id = p.author_id
         WHERE p.id = $1 AND p.deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn hide_post(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE posts SET hidden_at = $3, hidden_by = $2 WHERE id = $1 AND hidden_at IS NULL",
    )
    .bind(id)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A like counts once: the primary key refuses a second, and the counter
/// moves only when a row was really added or removed.
pub async fn like(
    conn: &mut AnyConnection,
    post_id: &str,
    user_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let added = sqlx::query(
        "INSERT INTO post_likes (post_id, user_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(post_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if added == 1 {
        sqlx::query("UPDATE posts SET like_count = like_count + 1 WHERE id = $1")
            .bind(post_id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn unlike(
    conn: &mut AnyConnection,
    post_id: &str,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    let removed = sqlx::query("DELETE FROM post_likes WHERE post_id = $1 AND user_id = $2")
        .bind(post_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if removed == 1 {
        sqlx::query("UPDATE posts SET like_count = like_count - 1 WHERE id = $1")
            .bind(post_id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
pub struct CommentRow {
    pub id: String,
    pub post_id: String,
    pub user_id: String,
    pub author_name: String,
    pub content: String,
    pub created_at: i64,
}

pub async fn insert_comment(
    conn: &mut AnyConnection,
    id: &str,
    post_id: &str,
    user_id: &str,
    content: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO post_comments (id, post_id, user_id, content, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(post_id)
    .bind(user_id)
    .bind(content)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE posts SET comment_count = comment_count + 1 WHERE id = $1")
        .bind(post_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Oldest first after `after` (a comment id), hiding what the reader blocked.
pub async fn comments(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    reader: &str,
    post_id: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.post_id, c.user_id, u.name AS author_name, c.content, c.created_at
         FROM post_comments c JOIN users u ON u.id = c.user_id
         WHERE c.post_id = $2 AND c.deleted_at IS NULL AND c.hidden_at IS NULL
           AND ($3 = '' OR c.id > $3)
           AND c.user_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = $1)
         ORDER BY c.id LIMIT $4",
    )
    .bind(reader)
    .bind(post_id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The post a shown comment belongs to.
pub async fn comment_post(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    comment_id: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT post_id, user_id FROM post_comments
         WHERE id = $1 AND deleted_at IS NULL AND hidden_at IS NULL",
    )
    .bind(comment_id)
    .fetch_optional(conn)
    .await
}

/// Takes a comment out of view (its author deleting, or a moderator) and
/// out of the post's count. False when it was not shown.
pub async fn remove_comment(
    conn: &mut AnyConnection,
    comment_id: &str,
    author: Option<&str>,
    moderator: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = match (author, moderator) {
        (Some(author), _) => sqlx::query(
            "UPDATE post_comments SET deleted_at = $3
             WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL AND hidden_at IS NULL",
        )
        .bind(comment_id)
        .bind(author)
        .bind(now),
        (None, by) => sqlx::query(
            "UPDATE post_comments SET hidden_at = $3, hidden_by = $2
             WHERE id = $1 AND deleted_at IS NULL AND hidden_at IS NULL",
        )
        .bind(comment_id)
        .bind(by)
        .bind(now),
    }
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        sqlx::query(
            "UPDATE posts SET comment_count = comment_count - 1
             WHERE id = (SELECT post_id FROM post_comments WHERE id = $1)",
        )
        .bind(comment_id)
        .execute(conn)
        .await?;
    }
    Ok(n == 1)
}

pub async fn follow(
    conn: &mut AnyConnection,
    follower: &str,
    kind: &str,
    target: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO follows (follower_id, target_kind, target_id, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(follower)
    .bind(kind)
    .bind(target)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn unfollow(
    conn: &mut AnyConnection,
    follower: &str,
    kind: &str,
    target: &str,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "DELETE FROM follows WHERE follower_id = $1 AND target_kind = $2 AND target_id = $3",
    )
    .bind(follower)
    .bind(kind)
    .bind(target)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Whom `follower` follows, with names, newest first.
pub async fn follows(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    follower: &str,
) -> Result<Vec<(String, String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.target_kind, f.target_id, COALESCE(c.name, u.name, '') AS name, f.created_at
         FROM follows f
         LEFT JOIN clubs c ON f.target_kind = 'club' AND c.id = f.target_id
         LEFT JOIN users u ON f.target_kind = 'user' AND u.id = f.target_id
         WHERE f.follower_id = $1 ORDER BY f.created_at DESC, f.target_id LIMIT 1000",
    )
    .bind(follower)
    .fetch_all(conn)
    .await
}
