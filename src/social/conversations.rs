//! Conversations: direct, group, club rooms, and who is in them.

use crate::db::{new_id, now_ms, rfc3339};
use crate::domain::{Caller, Forbidden, Invalid};
use crate::http::validate::next_page;
use crate::live::hub::{JOINED, LEFT};
use crate::social::model::{
    Conversation, ConversationKind, ConversationList, GROUP_MAX, LISTED_MEMBERS, NewConversation,
    NewConversationKind, PageQuery,
};
use crate::social::store::conversations::{self as store, ConversationRow};
use crate::social::{Social, SocialError, author, log_event, message, rules, user_topic};

impl Social {
    async fn view(
        &self,
        caller: &Caller,
        row: ConversationRow,
    ) -> Result<Conversation, SocialError> {
        let members = store::members(self.db.reader(), &row.id, LISTED_MEMBERS).await?;
        let kind = ConversationKind::parse(&row.kind).ok_or_else(|| {
            sqlx::Error::Decode(format!("conversation kind {:?}", row.kind).into())
        })?;
        let last_message = row
            .last_message()
            .map(|m| message(&m, &caller.id, row.last_read_seq, row.others_read_seq));
        Ok(Conversation {
            participants: members.iter().map(|(id, _)| id.clone()).collect(),
            members: members.iter().map(|(id, name)| author(id, name)).collect(),
            id: row.id,
            kind,
            name: row.name,
            club_id: row.club_id,
            owner_id: row.owner_id,
            member_count: row.member_count,
            last_message,
            unread_count: row.unread_count,
            last_read_message_id: row.last_read_id,
            created_at: rfc3339(row.created_at),
        })
    }

    /// My conversations, most recently active first.
    pub async fn conversations(
        &self,
        caller: &Caller,
        q: &PageQuery,
    ) -> Result<ConversationList, SocialError> {
        let limit = q.limit.unwrap_or(20);
        let after = rules::after(q.cursor.as_deref())?;
        let mut rows = store::mine(self.db.reader(), &caller.id, after, limit + 1).await?;
        let next_cursor = next_page(&mut rows, limit, |r| rules::cursor(r.activity_at, &r.id));
        let mut conversations = Vec::with_capacity(rows.len());
        for row in rows {
            conversations.push(self.view(caller, row).await?);
        }
        Ok(ConversationList {
            conversations,
            next_cursor,
        })
    }

    /// One of my conversations; anyone else's does not exist for me.
    pub async fn conversation(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Conversation, SocialError> {
        let row = store::one(self.db.reader(), &caller.id, id)
            .await?
            .ok_or(SocialError::NotFound("conversation"))?;
        self.view(caller, row).await
    }

    /// Starts a direct conversation (or finds the one that exists: `false`)
    /// or a group the caller owns.
    pub async fn start(
        &self,
        caller: &Caller,
        input: NewConversation,
    ) -> Result<(Conversation, bool), SocialError> {
        let mut others: Vec<String> = Vec::new();
        for p in input.participant_ids {
            if p != *caller.id && !others.contains(&p) {
                others.push(p);
            }
        }
        if others.is_empty() {
            return Err(Invalid::field(
                "participantIds",
                "invalid_value",
                "name at least one other fan",
            )
            .into());
        }
        let found = crate::social::store::existing_users(self.db.reader(), &others).await?;
        if let Some(missing) = others.iter().find(|p| !found.contains(p)) {
            return Err(Invalid::field(
                "participantIds",
                "not_found",
                format!("no fan has the id {missing}"),
            )
            .into());
        }
        for other in &others {
            if crate::social::store::blocks(self.db.reader(), other, &caller.id).await? {
                return Err(SocialError::Blocked);
            }
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let mut events = Vec::new();
        let (id, created) = if input.kind == NewConversationKind::Direct {
            let key = rules::direct_key(&caller.id, &others[0]);
            let id = new_id();
            let created = store::insert(
                tx.conn(),
                store::NewConversation {
                    id: &id,
                    kind: "direct",
                    name: None,
                    owner_id: None,
                    club_id: None,
                    direct_key: Some(&key),
                    now,
                },
            )
            .await?;
            let id = if created {
                id
            } else {
                store::by_direct_key(tx.conn(), &key)
                    .await?
                    .ok_or(SocialError::NotFound("conversation"))?
            };
            (id, created)
        } else {
            let id = new_id();
            store::insert(
                tx.conn(),
                store::NewConversation {
                    id: &id,
                    kind: "group",
                    name: input.name.as_deref().map(str::trim),
                    owner_id: Some(&caller.id),
                    club_id: None,
                    direct_key: None,
                    now,
                },
            )
            .await?;
            (id, true)
        };
        if created {
            for member in
                std::iter::once(caller.id.as_str()).chain(others.iter().map(String::as_str))
            {
                store::add_member(tx.conn(), &id, member, now).await?;
                events.push(joined(tx.conn(), member, &id).await?);
            }
        }
        tx.commit().await?;
        self.publish(events);
        Ok((self.conversation(caller, &id).await?, created))
    }

    /// The owner adds a fan to a group.
    pub async fn add_member(
        &self,
        caller: &Caller,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<Conversation, SocialError> {
        let m = store::membership(self.db.reader(), conversation_id, &caller.id)
            .await?
            .ok_or(SocialError::NotFound("conversation"))?;
        if m.kind != "group" {
            return Err(Forbidden::new("only a group's members can be changed").into());
        }
        if m.owner_id.as_deref() != Some(caller.id.as_str()) {
            return Err(Forbidden::new("only the group's owner adds members").into());
        }
        if crate::social::store::existing_users(self.db.reader(), &[user_id.to_owned()])
            .await?
            .is_empty()
        {
            return Err(SocialError::NotFound("user"));
        }
        if crate::social::store::blocks(self.db.reader(), user_id, &caller.id).await? {
            return Err(SocialError::Blocked);
        }
        if store::member_count(self.db.reader(), conversation_id).await? >= GROUP_MAX as i64 {
            return Err(SocialError::Conflict("this group is full"));
        }
        let mut tx = self.db.begin_write().await?;
        let mut events = Vec::new();
        if store::add_member(tx.conn(), conversation_id, user_id, now_ms()).await? {
            events.push(joined(tx.conn(), user_id, conversation_id).await?);
        }
        tx.commit().await?;
        self.publish(events);
        self.conversation(caller, conversation_id).await
    }

    /// The owner removes a member, or a member leaves (then a group passes
    /// to its longest-standing member if the owner left).
    pub async fn remove_member(
        &self,
        caller: &Caller,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<(), SocialError> {
        let m = store::membership(self.db.reader(), conversation_id, &caller.id)
            .await?
            .ok_or(SocialError::NotFound("conversation"))?;
        let leaving = user_id == caller.id.as_str();
        match m.kind.as_str() {
            "group" if leaving || m.owner_id.as_deref() == Some(caller.id.as_str()) => {}
            "group" => return Err(Forbidden::new("only the group's owner removes members").into()),
            "club" if leaving => {}
            _ => {
                return Err(Forbidden::new(
                    "a direct conversation's members cannot change; block the fan instead",
                )
                .into());
            }
        }
        let mut tx = self.db.begin_write().await?;
        if !store::remove_member(tx.conn(), conversation_id, user_id).await? {
            return Err(SocialError::NotFound("member"));
        }
        if leaving && m.kind == "group" {
            store::pass_ownership(tx.conn(), conversation_id, user_id).await?;
        }
        let event = log_event(
            tx.conn(),
            user_topic(user_id),
            LEFT,
            serde_json::json!({"conversationId": conversation_id, "userId": user_id}),
        )
        .await?;
        tx.commit().await?;
        self.publish(vec![event]);
        Ok(())
    }

    /// Joins the club's public room (created with the first fan).
    pub async fn join_club(
        &self,
        caller: &Caller,
        club_id: &str,
    ) -> Result<Conversation, SocialError> {
        let name = crate::social::store::club_name(self.db.reader(), club_id)
            .await?
            .ok_or(SocialError::NotFound("club"))?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let id = new_id();
        store::insert(
            tx.conn(),
            store::NewConversation {
                id: &id,
                kind: "club",
                name: Some(&name),
                owner_id: None,
                club_id: Some(club_id),
                direct_key: None,
                now,
            },
        )
        .await?;
        let room = store::club_room(tx.conn(), club_id)
            .await?
            .ok_or(SocialError::NotFound("club"))?;
        let mut events = Vec::new();
        if store::add_member(tx.conn(), &room, &caller.id, now).await? {
            events.push(joined(tx.conn(), &caller.id, &room).await?);
        }
        tx.commit().await?;
        self.publish(events);
        self.conversation(caller, &room).await
    }

    pub async fn leave_club(&self, caller: &Caller, club_id: &str) -> Result<(), SocialError> {
        let room = store::club_room(self.db.reader(), club_id)
            .await?
            .ok_or(SocialError::NotFound("conversation"))?;
        self.remove_member(caller, &room, &caller.id).await
    }
}

async fn joined(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    conversation_id: &str,
) -> Result<crate::infra::fanout::Event, sqlx::Error> {
    log_event(
        conn,
        user_topic(user_id),
        JOINED,
        serde_json::json!({"conversationId": conversation_id, "userId": user_id}),
    )
    .await
}
