//! In-app notifications: written in the transaction of the event they announce,
//! logged for live replay and pushed to live subscribers after commit.

pub mod routes;
pub mod store;

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Db;
use crate::infra::fanout::{Event, Fanout};
use crate::wallet::model::ListQuery;

pub use routes::router;
pub use store::notify;

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

/// The notifications core: a fan's list, read markers, and the push of
/// committed notifications to their users' live subscribers.
#[derive(Clone)]
pub struct Notifier {
    db: Db,
    log: crate::live::store::Logger,
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("notification not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<NotificationError> for crate::error::ApiError {
    fn from(e: NotificationError) -> Self {
        match e {
            NotificationError::NotFound => crate::error::ApiError::not_found("notification"),
            NotificationError::Db(e) => crate::error::ApiError::Database(e),
        }
    }
}

impl Notifier {
    /// Starts the writer that logs notifications for live replay.
    pub fn new(db: Db, fanout: Arc<dyn Fanout>) -> Self {
        Self {
            log: crate::live::store::Logger::start(db.clone(), fanout),
            db,
        }
    }

    /// Pushes a notification whose transaction has committed: logged for
    /// sockets that reconnect later, then fanned out to the live ones.
    pub fn publish(&self, user_id: &str, n: &Notification) {
        self.log.log_and_publish(Event {
            topic: format!("user:{user_id}"),
            kind: "notification.created".into(),
            payload: serde_json::to_value(n).unwrap_or_default(),
            id: None,
        });
    }

    /// My notifications, newest first, with the unread count.
    pub async fn list(
        &self,
        user_id: &str,
        q: &ListQuery,
    ) -> Result<NotificationList, NotificationError> {
        let limit = q.limit.unwrap_or(20);
        let offset = if q.cursor.is_some() {
            0
        } else {
            q.offset.unwrap_or(0)
        };
        let mut notifications = store::page(
            self.db.reader(),
            user_id,
            q.cursor
                .as_deref()
                .map(|c| crate::http::validate::after_id(Some(c))),
            limit + 1,
            offset,
        )
        .await?;
        let next_cursor = crate::http::validate::next_page(&mut notifications, limit, |n| {
            crate::http::validate::id_cursor(&n.id)
        });
        Ok(NotificationList {
            notifications,
            unread: store::unread(self.db.reader(), user_id).await?,
            next_cursor,
        })
    }

    pub async fn mark_read(&self, user_id: &str, id: &str) -> Result<(), NotificationError> {
        let mut tx = self.db.begin_write().await?;
        let found = store::mark_read(tx.conn(), user_id, id).await?;
        tx.commit().await?;
        if found {
            Ok(())
        } else {
            Err(NotificationError::NotFound)
        }
    }
}
