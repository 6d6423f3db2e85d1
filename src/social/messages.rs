//! Messages: post, history, edit, delete, read markers.

use crate::db::{new_id, now_ms};
use crate::domain::{Caller, Invalid};
use crate::http::validate::next_page;
use crate::social::model::{
    EditMessage, Message, MessagePage, NewMessage, PageQuery, ReadMarker, ReadState,
};
use crate::social::store::conversations as conversations_store;
use crate::social::store::messages::{self as store, MessageRow};
use crate::social::{
    Social, SocialError, conversation_topic, log_event, message, message_event, rules, user_topic,
};

impl Social {
    /// Posts into a conversation I am a member of.
    pub async fn post_message(
        &self,
        caller: &Caller,
        input: NewMessage,
    ) -> Result<Message, SocialError> {
        let m =
            conversations_store::membership(self.db.reader(), &input.conversation_id, &caller.id)
                .await?
                .ok_or(SocialError::NotFound("conversation"))?;
        if let Some(other) = m
            .direct_key
            .as_deref()
            .and_then(|k| rules::direct_other(k, &caller.id))
            && crate::social::store::blocks(self.db.reader(), other, &caller.id).await?
        {
            return Err(SocialError::Blocked);
        }
        self.limiter
            .check(&format!("chat:{}", caller.id))
            .await
            .map_err(|e| SocialError::RateLimited(Box::new(e)))?;
        let id = new_id();
        let now = now_ms();
        let body = input.message.trim();
        let mut tx = self.db.begin_write().await?;
        crate::live::store::order_lock(tx.conn()).await?;
        let seq = store::insert(
            tx.conn(),
            &id,
            &input.conversation_id,
            &caller.id,
            body,
            now,
        )
        .await?;
        // The author has read what they wrote.
        store::mark_read(tx.conn(), &input.conversation_id, &caller.id, seq).await?;
        let row = store::get(tx.conn(), &id)
            .await?
            .ok_or(SocialError::NotFound("message"))?;
        let event = log_event(
            tx.conn(),
            conversation_topic(&input.conversation_id),
            "message.created",
            message_event(&row),
        )
        .await?;
        tx.commit().await?;
        self.publish(vec![event]);
        Ok(message(&row, &caller.id, seq, None))
    }

    /// A page of a conversation, newest first. The cursor is the position of
    /// the last message shown, so messages arriving meanwhile (always newer)
    /// neither shift nor repeat the older pages.
    pub async fn history(
        &self,
        caller: &Caller,
        conversation_id: &str,
        q: &PageQuery,
    ) -> Result<MessagePage, SocialError> {
        let read = store::read_state(self.db.reader(), conversation_id, &caller.id)
            .await?
            .ok_or(SocialError::NotFound("conversation"))?;
        let limit = q.limit.unwrap_or(50);
        let before = match rules::after(q.cursor.as_deref())? {
            // Messages are numbered from 1: before 1 there is nothing.
            Some((seq, _)) => seq.max(1),
            None => 0,
        };
        let mut rows = store::page(self.db.reader(), conversation_id, before, limit + 1).await?;
        let next_cursor = next_page(&mut rows, limit, |r| rules::cursor(r.seq, &r.id));
        Ok(MessagePage {
            messages: rows
                .iter()
                .map(|r| message(r, &caller.id, read.last_read_seq, read.others_read_seq))
                .collect(),
            next_cursor,
        })
    }

    /// The message, if I am a member of its conversation.
    async fn visible(&self, caller: &Caller, id: &str) -> Result<MessageRow, SocialError> {
        let row = store::get(self.db.reader(), id)
            .await?
            .ok_or(SocialError::NotFound("message"))?;
        conversations_store::membership(self.db.reader(), &row.conversation_id, &caller.id)
            .await?
            .ok_or(SocialError::NotFound("message"))?;
        Ok(row)
    }

    /// The author edits their message.
    pub async fn edit_message(
        &self,
        caller: &Caller,
        id: &str,
        input: EditMessage,
    ) -> Result<Message, SocialError> {
        let row = self.visible(caller, id).await?;
        if row.user_id != *caller.id {
            return Err(crate::domain::Forbidden::new("only its author edits a message").into());
        }
        let mut tx = self.db.begin_write().await?;
        if !store::edit(tx.conn(), id, &caller.id, input.message.trim(), now_ms()).await? {
            return Err(SocialError::Deleted);
        }
        let row = store::get(tx.conn(), id)
            .await?
            .ok_or(SocialError::NotFound("message"))?;
        let event = log_event(
            tx.conn(),
            conversation_topic(&row.conversation_id),
            "message.updated",
            message_event(&row),
        )
        .await?;
        tx.commit().await?;
        self.publish(vec![event]);
        let read = store::read_state(self.db.reader(), &row.conversation_id, &caller.id).await?;
        Ok(message(
            &row,
            &caller.id,
            read.as_ref().map_or(0, |r| r.last_read_seq),
            read.and_then(|r| r.others_read_seq),
        ))
    }

    /// The author deletes their message; members see that it was deleted.
    pub async fn delete_message(&self, caller: &Caller, id: &str) -> Result<(), SocialError> {
        let row = self.visible(caller, id).await?;
        if row.user_id != *caller.id {
            return Err(crate::domain::Forbidden::new("only its author deletes a message").into());
        }
        let mut tx = self.db.begin_write().await?;
        if !store::delete(tx.conn(), id, &caller.id, now_ms()).await? {
            return Err(SocialError::NotFound("message"));
        }
        let event = log_event(
            tx.conn(),
            conversation_topic(&row.conversation_id),
            "message.deleted",
            serde_json::json!({"id": id, "conversationId": row.conversation_id, "reason": "deleted"}),
        )
        .await?;
        tx.commit().await?;
        self.publish(vec![event]);
        Ok(())
    }

    /// Moves my read marker to a message (the newest when none is named);
    /// it never moves back.
    pub async fn mark_read(
        &self,
        caller: &Caller,
        conversation_id: &str,
        input: ReadMarker,
    ) -> Result<ReadState, SocialError> {
        let m = conversations_store::membership(self.db.reader(), conversation_id, &caller.id)
            .await?
            .ok_or(SocialError::NotFound("conversation"))?;
        let seq = match &input.message_id {
            Some(mid) => {
                let row = store::get(self.db.reader(), mid)
                    .await?
                    .filter(|r| r.conversation_id == conversation_id)
                    .ok_or_else(|| {
                        Invalid::field(
                            "messageId",
                            "not_found",
                            "no such message in this conversation",
                        )
                    })?;
                row.seq
            }
            None => store::newest(self.db.reader(), conversation_id).await?,
        };
        let mut tx = self.db.begin_write().await?;
        let mut events = Vec::new();
        if store::mark_read(tx.conn(), conversation_id, &caller.id, seq).await? {
            let read = store::read_state(tx.conn(), conversation_id, &caller.id).await?;
            let payload = serde_json::json!({
                "conversationId": conversation_id,
                "userId": caller.id,
                "lastReadMessageId": read.as_ref().and_then(|r| r.last_read_id.clone()),
            });
            // Read receipts go to the other members of a direct or group
            // conversation; in a club room (thousands of members) only to
            // the reader's own devices.
            let topic = if m.kind == "club" {
                user_topic(&caller.id)
            } else {
                conversation_topic(conversation_id)
            };
            events.push(log_event(tx.conn(), topic, "conversation.read", payload).await?);
        }
        tx.commit().await?;
        self.publish(events);
        let read = store::read_state(self.db.reader(), conversation_id, &caller.id)
            .await?
            .ok_or(SocialError::NotFound("conversation"))?;
        Ok(ReadState {
            conversation_id: conversation_id.to_owned(),
            user_id: caller.id.to_string(),
            last_read_message_id: read.last_read_id,
            unread_count: read.unread_count,
        })
    }
}
