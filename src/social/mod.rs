//! Fan chat and feed: conversations (direct, group, club rooms), messages
//! with read markers, posts with likes, comments and follows, and
//! moderation (blocks, reports, hiding). Every change a member must see
//! live is logged (`live::store`) in its own transaction and fanned out
//! after commit; `live` delivers it to sockets.

pub mod conversations;
pub mod demo;
pub mod error;
pub mod feed;
pub mod messages;
pub mod model;
pub mod moderation;
pub mod routes;
pub mod rules;
pub mod store;

use std::sync::Arc;

use sqlx::AnyConnection;

use crate::db::{Db, rfc3339};
use crate::infra::fanout::{Event, Fanout};
use crate::infra::ratelimit::RateLimiter;
use crate::social::model::{Author, Message};
use crate::social::store::messages::MessageRow;

pub use error::SocialError;
pub use routes::router;

/// The social core.
#[derive(Clone)]
pub struct Social {
    db: Db,
    fanout: Arc<dyn Fanout>,
    /// Messages per fan per minute.
    limiter: RateLimiter,
}

impl Social {
    pub fn new(db: Db, fanout: Arc<dyn Fanout>, limiter: RateLimiter) -> Social {
        Social {
            db,
            fanout,
            limiter,
        }
    }

    /// The same core without the per-fan message limit, for seeding.
    pub(crate) fn unlimited(&self) -> Social {
        Social {
            limiter: RateLimiter::new(u32::MAX, None),
            ..self.clone()
        }
    }

    /// Sends events whose transaction has committed.
    fn publish(&self, events: Vec<Event>) {
        for e in events {
            self.fanout.publish(e);
        }
    }
}

/// Logs an event in the caller's transaction; publish it after commit.
async fn log_event(
    conn: &mut AnyConnection,
    topic: String,
    kind: &str,
    payload: serde_json::Value,
) -> Result<Event, sqlx::Error> {
    let seq = crate::live::store::append(conn, &topic, kind, &payload).await?;
    Ok(Event {
        topic,
        kind: kind.to_owned(),
        payload,
        id: Some(seq),
    })
}

pub fn conversation_topic(id: &str) -> String {
    format!("conversation:{id}")
}

pub fn user_topic(id: &str) -> String {
    format!("user:{id}")
}

pub fn avatar_url(id: &str) -> String {
    format!("/api/social/avatars/{id}")
}

pub fn author(id: &str, name: &str) -> Author {
    Author {
        id: id.to_owned(),
        name: name.to_owned(),
        avatar: avatar_url(id),
    }
}

/// A message as `viewer` sees it: their read marker (`my_read`) covers
/// others' messages; the lowest marker of the others (`others_read`) covers
/// the viewer's own.
fn message(row: &MessageRow, viewer: &str, my_read: i64, others_read: Option<i64>) -> Message {
    let gone = row.deleted_at.is_some() || row.hidden_at.is_some();
    let read = if row.user_id == viewer {
        others_read.is_some_and(|s| s >= row.seq)
    } else {
        my_read >= row.seq
    };
    Message {
        id: row.id.clone(),
        conversation_id: row.conversation_id.clone(),
        user_id: row.user_id.clone(),
        author: author(&row.user_id, &row.author_name),
        message: if gone {
            String::new()
        } else {
            row.body.clone()
        },
        timestamp: rfc3339(row.created_at),
        edited_at: row.edited_at.map(rfc3339),
        deleted: row.deleted_at.is_some(),
        hidden: row.hidden_at.is_some(),
        read,
    }
}

/// A message as every member receives it live (nobody has read it yet).
fn message_event(row: &MessageRow) -> serde_json::Value {
    serde_json::to_value(message(row, "", 0, None)).unwrap_or_default()
}
