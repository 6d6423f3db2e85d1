//! What fans read: the matches on sale, and their own tickets with QR codes.

use std::sync::Arc;

use crate::db::now_ms;
use crate::domain::Caller;
use crate::infra::readmodel::{Filled, Rendered, Snapshot};
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::store::*;

/// A match stays on the list this long after kickoff.
const SHOWN_AFTER_KICKOFF_MS: i64 = 3 * 3_600_000;

impl Tickets {
    /// One match with its categories: from the list when it is on it.
    pub async fn event(&self, id: &str) -> Result<Event, TicketError> {
        if let Some(e) = self.listed().await?.data.iter().find(|e| e.id == id) {
            return Ok(e.clone());
        }
        get_event(self.db.reader(), id).await
    }

    /// Upcoming events (and those that kicked off in the last 3 hours) of
    /// `club`, home or away, rendered once per club and snapshot.
    pub async fn list_events(&self, club: Option<&str>) -> Result<Arc<Rendered>, TicketError> {
        let club = club.unwrap_or("");
        let listed = self.listed().await?;
        listed
            .rendered(club, |all| EventList {
                events: all
                    .iter()
                    .filter(|e| {
                        club.is_empty()
                            || e.home_club == club
                            || e.away_club.as_deref() == Some(club)
                    })
                    .cloned()
                    .collect(),
            })
            .map_err(|e| TicketError::Internal(e.to_string()))
    }

    async fn listed(&self) -> Result<Arc<Snapshot<Vec<Event>>>, TicketError> {
        self.listed
            .get(|| async {
                let (events, stale_at_ms) =
                    events_listed(self.db.snapshots(), now_ms(), SHOWN_AFTER_KICKOFF_MS).await?;
                Ok::<_, TicketError>(Filled {
                    data: events,
                    stale_at_ms,
                })
            })
            .await
    }

    /// A ticket its owner (or an admin) may see; anyone else gets 404.
    pub(super) async fn own_ticket(
        &self,
        user: &Caller,
        id: &str,
    ) -> Result<TicketRow, TicketError> {
        match load_ticket(self.db.reader(), &self.signer, id, true).await? {
            Some(t) if t.owner_id == user.id || user.is_admin() => Ok(t),
            _ => Err(TicketError::NotFound("ticket")),
        }
    }

    pub async fn my_tickets(&self, user_id: &str) -> Result<Vec<Ticket>, TicketError> {
        tickets_of(self.db.reader(), &self.signer, user_id).await
    }

    pub async fn ticket(&self, user: &Caller, id: &str) -> Result<Ticket, TicketError> {
        Ok(self.own_ticket(user, id).await?.view)
    }

    pub async fn qr(&self, user: &Caller, id: &str) -> Result<QrResponse, TicketError> {
        let t = self.own_ticket(user, id).await?;
        let qr_code = t
            .view
            .qr_code
            .ok_or_else(|| TicketError::NotValid(format!("this ticket is {}", t.view.status)))?;
        Ok(QrResponse {
            qr_code,
            ticket_id: t.view.id,
            event_id: t.view.event_id,
            version: t.view.version,
        })
    }
}
