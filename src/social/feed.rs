//! The feed: posts by clubs and fans, likes, comments, follows.

use crate::db::{new_id, now_ms, rfc3339};
use crate::domain::{Caller, Invalid};
use crate::http::validate::next_page;
use crate::social::model::{
    Comment, CommentPage, Feed, FeedQuery, Follow, FollowList, LikeState, NewComment, NewPost,
    PageQuery, Post, PostKind,
};
use crate::social::store::feed::{self as store, CommentRow, PostRow};
use crate::social::{Social, SocialError, author, rules};

fn post(row: PostRow) -> Post {
    let (kind, who) = match (&row.club_id, &row.club_name) {
        (Some(club), Some(name)) => (PostKind::Club, author(club, name)),
        _ => (PostKind::Fan, author(&row.author_id, &row.author_name)),
    };
    Post {
        id: row.id,
        kind,
        author: who,
        user_id: row.author_id,
        club_id: row.club_id,
        content: row.content,
        image_url: row.image_url,
        likes: row.like_count,
        comments: row.comment_count,
        liked: row.liked > 0,
        timestamp: rfc3339(row.created_at),
    }
}

fn comment(row: CommentRow) -> Comment {
    Comment {
        author: author(&row.user_id, &row.author_name),
        id: row.id,
        post_id: row.post_id,
        content: row.content,
        timestamp: rfc3339(row.created_at),
    }
}

impl Social {
    /// Posts of my club, of what I follow and mine, newest first with an
    /// engagement boost.
    pub async fn feed(&self, caller: &Caller, q: &FeedQuery) -> Result<Feed, SocialError> {
        let limit = q.limit.unwrap_or(10);
        let page = q.page.unwrap_or(1);
        let club = crate::social::store::home_club(self.db.reader(), &caller.id).await?;
        let after = rules::after(q.cursor.as_deref())?;
        let offset = if after.is_some() {
            0
        } else {
            (page - 1) * limit
        };
        let mut rows = store::feed(
            self.db.reader(),
            &caller.id,
            club.as_deref(),
            after,
            limit + 1,
            offset,
        )
        .await?;
        let next_cursor = next_page(&mut rows, limit, |r| rules::cursor(r.score, &r.id));
        let total = store::feed_total(self.db.reader(), &caller.id, club.as_deref()).await?;
        Ok(Feed {
            feed: rows.into_iter().map(post).collect(),
            page,
            limit,
            total,
            next_cursor,
        })
    }

    /// A fan's post, or a club's when its staff (or an admin) name the club.
    pub async fn create_post(&self, caller: &Caller, input: NewPost) -> Result<Post, SocialError> {
        if let Some(club) = &input.club_id {
            caller.require_staff_of(club)?;
            crate::social::store::club_name(self.db.reader(), club)
                .await?
                .ok_or_else(|| Invalid::field("clubId", "not_found", "no such club"))?;
        }
        let id = new_id();
        let mut tx = self.db.begin_write().await?;
        store::insert_post(
            tx.conn(),
            &id,
            &caller.id,
            input.club_id.as_deref(),
            input.content.trim(),
            input.image_url.as_deref(),
            now_ms(),
        )
        .await?;
        tx.commit().await?;
        self.post(caller, &id).await
    }

    pub async fn post(&self, caller: &Caller, id: &str) -> Result<Post, SocialError> {
        store::post(self.db.reader(), &caller.id, id)
            .await?
            .map(post)
            .ok_or(SocialError::NotFound("post"))
    }

    pub async fn delete_post(&self, caller: &Caller, id: &str) -> Result<(), SocialError> {
        let mut tx = self.db.begin_write().await?;
        if !store::delete_post(tx.conn(), id, &caller.id, now_ms()).await? {
            return Err(SocialError::NotFound("post"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Likes a post; liking it again changes nothing.
    pub async fn like(
        &self,
        caller: &Caller,
        id: &str,
        like: bool,
    ) -> Result<LikeState, SocialError> {
        self.post(caller, id).await?;
        let mut tx = self.db.begin_write().await?;
        if like {
            store::like(tx.conn(), id, &caller.id, now_ms()).await?;
        } else {
            store::unlike(tx.conn(), id, &caller.id).await?;
        }
        tx.commit().await?;
        let p = self.post(caller, id).await?;
        Ok(LikeState {
            post_id: p.id,
            liked: p.liked,
            likes: p.likes,
        })
    }

    pub async fn comment(
        &self,
        caller: &Caller,
        post_id: &str,
        input: NewComment,
    ) -> Result<Comment, SocialError> {
        let p = self.post(caller, post_id).await?;
        if crate::social::store::blocks(self.db.reader(), &p.user_id, &caller.id).await? {
            return Err(SocialError::Blocked);
        }
        let id = new_id();
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        store::insert_comment(
            tx.conn(),
            &id,
            post_id,
            &caller.id,
            input.content.trim(),
            now,
        )
        .await?;
        tx.commit().await?;
        let name = crate::live::store::user_name(self.db.reader(), &caller.id)
            .await?
            .unwrap_or_default();
        Ok(Comment {
            author: author(&caller.id, &name),
            id,
            post_id: post_id.to_owned(),
            content: input.content.trim().to_owned(),
            timestamp: rfc3339(now),
        })
    }

    pub async fn comments(
        &self,
        caller: &Caller,
        post_id: &str,
        q: &PageQuery,
    ) -> Result<CommentPage, SocialError> {
        self.post(caller, post_id).await?;
        let limit = q.limit.unwrap_or(20);
        let mut rows = store::comments(
            self.db.reader(),
            &caller.id,
            post_id,
            crate::http::validate::after_id(q.cursor.as_deref()),
            limit + 1,
        )
        .await?;
        let next_cursor = next_page(&mut rows, limit, |c| {
            crate::http::validate::id_cursor(&c.id)
        });
        Ok(CommentPage {
            comments: rows.into_iter().map(comment).collect(),
            next_cursor,
        })
    }

    /// The author deletes their comment.
    pub async fn delete_comment(&self, caller: &Caller, id: &str) -> Result<(), SocialError> {
        let mut tx = self.db.begin_write().await?;
        if !store::remove_comment(tx.conn(), id, Some(&caller.id), None, now_ms()).await? {
            return Err(SocialError::NotFound("comment"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Follows a club (`club`) or a fan (`user`); again changes nothing.
    pub async fn follow(
        &self,
        caller: &Caller,
        kind: &str,
        target: &str,
        on: bool,
    ) -> Result<(), SocialError> {
        let exists = match kind {
            "club" => crate::social::store::club_name(self.db.reader(), target)
                .await?
                .is_some(),
            _ => {
                target != caller.id.as_str()
                    && !crate::social::store::existing_users(self.db.reader(), &[target.to_owned()])
                        .await?
                        .is_empty()
            }
        };
        if !exists {
            return Err(SocialError::NotFound(if kind == "club" {
                "club"
            } else {
                "user"
            }));
        }
        let mut tx = self.db.begin_write().await?;
        if on {
            store::follow(tx.conn(), &caller.id, kind, target, now_ms()).await?;
        } else {
            store::unfollow(tx.conn(), &caller.id, kind, target).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn follows(&self, caller: &Caller) -> Result<FollowList, SocialError> {
        let rows = store::follows(self.db.reader(), &caller.id).await?;
        Ok(FollowList {
            follows: rows
                .into_iter()
                .map(|(kind, id, name, at)| Follow {
                    kind,
                    id,
                    name,
                    created_at: rfc3339(at),
                })
                .collect(),
        })
    }
}
