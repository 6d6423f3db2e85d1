//! Blocks, reports, and moderators hiding what breaks the rules.

use crate::db::{new_id, now_ms, rfc3339};
use crate::domain::{Caller, Forbidden, Role};
use crate::social::model::{BlockList, Blocked, NewReport, PageQuery, Report, ReportList};
use crate::social::store::moderation::{self as store, ReportRow};
use crate::social::store::{
    conversations as conversations_store, feed as feed_store, messages as messages_store,
};
use crate::social::{Social, SocialError, conversation_topic, log_event};

/// What can be reported and hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Message,
    Post,
    Comment,
}

impl Target {
    fn as_str(self) -> &'static str {
        match self {
            Target::Message => "message",
            Target::Post => "post",
            Target::Comment => "comment",
        }
    }
}

fn report(r: ReportRow) -> Report {
    Report {
        id: r.id,
        target_type: r.target_kind,
        target_id: r.target_id,
        club_id: r.club_id,
        reporter_id: r.reporter_id,
        reason: r.reason,
        created_at: rfc3339(r.created_at),
        resolved_at: r.resolved_at.map(rfc3339),
    }
}

impl Social {
    /// I stop hearing from a fan: no direct messages from them, their posts
    /// and comments hidden from me.
    pub async fn block(&self, caller: &Caller, user_id: &str) -> Result<(), SocialError> {
        if user_id == caller.id.as_str() {
            return Err(crate::domain::Invalid::field(
                "userId",
                "invalid_value",
                "you cannot block yourself",
            )
            .into());
        }
        if crate::social::store::existing_users(self.db.reader(), &[user_id.to_owned()])
            .await?
            .is_empty()
        {
            return Err(SocialError::NotFound("user"));
        }
        let mut tx = self.db.begin_write().await?;
        store::block(tx.conn(), &caller.id, user_id, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn unblock(&self, caller: &Caller, user_id: &str) -> Result<(), SocialError> {
        let mut tx = self.db.begin_write().await?;
        if !store::unblock(tx.conn(), &caller.id, user_id).await? {
            return Err(SocialError::NotFound("block"));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn blocks(&self, caller: &Caller) -> Result<BlockList, SocialError> {
        let rows = store::blocked_by(self.db.reader(), &caller.id).await?;
        Ok(BlockList {
            blocks: rows
                .into_iter()
                .map(|(user_id, name, at)| Blocked {
                    user_id,
                    name,
                    created_at: rfc3339(at),
                })
                .collect(),
        })
    }

    /// The club whose space `id` is in, for something the caller can see
    /// (`None`: not a club's space). Not visible: 404.
    async fn space(
        &self,
        caller: &Caller,
        target: Target,
        id: &str,
    ) -> Result<Option<String>, SocialError> {
        match target {
            Target::Message => {
                let row = messages_store::get(self.db.reader(), id)
                    .await?
                    .ok_or(SocialError::NotFound("message"))?;
                let m = conversations_store::membership(
                    self.db.reader(),
                    &row.conversation_id,
                    &caller.id,
                )
                .await?;
                if let Some(m) = m {
                    return Ok(m.club_id);
                }
                // Moderators need not be members: admins anywhere, staff
                // in their club's room.
                let club = conversations_store::club_of(self.db.reader(), &row.conversation_id)
                    .await?
                    .flatten();
                match club {
                    _ if caller.is_admin() => Ok(club),
                    Some(club) if caller.require_staff_of(&club).is_ok() => Ok(Some(club)),
                    _ => Err(SocialError::NotFound("message")),
                }
            }
            Target::Post => {
                self.post(caller, id).await?;
                Ok(feed_store::post_space(self.db.reader(), id)
                    .await?
                    .and_then(|s| s.club_id))
            }
            Target::Comment => {
                let (post_id, _) = feed_store::comment_post(self.db.reader(), id)
                    .await?
                    .ok_or(SocialError::NotFound("comment"))?;
                self.post(caller, &post_id)
                    .await
                    .map_err(|_| SocialError::NotFound("comment"))?;
                Ok(feed_store::post_space(self.db.reader(), &post_id)
                    .await?
                    .and_then(|s| s.club_id))
            }
        }
    }

    /// Reports something I can see, for the moderators of its space; a
    /// second report of the same thing returns the first (`false`).
    pub async fn report(
        &self,
        caller: &Caller,
        target: Target,
        id: &str,
        input: NewReport,
    ) -> Result<(Report, bool), SocialError> {
        let club = self.space(caller, target, id).await?;
        let report_id = new_id();
        let mut tx = self.db.begin_write().await?;
        let (row, created) = store::report(
            tx.conn(),
            store::NewReport {
                id: &report_id,
                reporter: &caller.id,
                target_kind: target.as_str(),
                target_id: id,
                club_id: club.as_deref(),
                reason: input.reason.trim(),
                now: now_ms(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((report(row), created))
    }

    /// Open reports: a staff member's club's, or all for an admin.
    pub async fn reports(&self, caller: &Caller, q: &PageQuery) -> Result<ReportList, SocialError> {
        let club = match caller.role {
            Role::Admin => None,
            Role::Staff => Some(
                caller
                    .staff_club
                    .clone()
                    .ok_or_else(|| Forbidden::new("staff without a club"))?,
            ),
            Role::Fan => return Err(Forbidden::new("reports are for staff and admins").into()),
        };
        let limit = q.limit.unwrap_or(20);
        let mut rows = store::open_reports(
            self.db.reader(),
            club.as_deref(),
            crate::http::validate::after_id(q.cursor.as_deref()),
            limit + 1,
        )
        .await?;
        let next_cursor = crate::http::validate::next_page(&mut rows, limit, |r| {
            crate::http::validate::id_cursor(&r.id)
        });
        Ok(ReportList {
            reports: rows.into_iter().map(report).collect(),
            next_cursor,
        })
    }

    /// Staff hide what is in their club's spaces; admins anything. Hiding
    /// settles the reports about it.
    pub async fn hide(&self, caller: &Caller, target: Target, id: &str) -> Result<(), SocialError> {
        let club = self.space(caller, target, id).await?;
        match &club {
            Some(club) => caller.require_staff_of(club)?,
            None => caller.require_admin()?,
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let mut events = Vec::new();
        match target {
            Target::Message => {
                let hidden = messages_store::hide(tx.conn(), id, &caller.id, now).await?;
                if hidden && let Some(row) = messages_store::get(tx.conn(), id).await? {
                    events.push(
                        log_event(
                            tx.conn(),
                            conversation_topic(&row.conversation_id),
                            "message.deleted",
                            serde_json::json!({"id": id, "conversationId": row.conversation_id, "reason": "hidden"}),
                        )
                        .await?,
                    );
                }
            }
            Target::Post => {
                feed_store::hide_post(tx.conn(), id, &caller.id, now).await?;
            }
            Target::Comment => {
                feed_store::remove_comment(tx.conn(), id, None, Some(&caller.id), now).await?;
            }
        }
        store::resolve(tx.conn(), target.as_str(), id, now).await?;
        tx.commit().await?;
        self.publish(events);
        Ok(())
    }

    /// The picture of a user or a club: their initials on a colour.
    pub async fn avatar(&self, id: &str) -> Result<String, SocialError> {
        let name = match crate::live::store::user_name(self.db.reader(), id).await? {
            Some(n) => n,
            None => crate::social::store::club_name(self.db.reader(), id)
                .await?
                .ok_or(SocialError::NotFound("avatar"))?,
        };
        Ok(crate::social::rules::avatar_svg(id, &name))
    }
}
