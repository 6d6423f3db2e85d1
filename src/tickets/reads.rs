//! What fans read: the matches on sale, and their own tickets with QR codes.

use crate::db::now_ms;
use crate::domain::Caller;
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::store::*;

impl Tickets {
    /// One match with its categories.
    pub async fn event(&self, id: &str) -> Result<Event, TicketError> {
        get_event(self.db.reader(), id).await
    }

    /// Upcoming events (and those that kicked off in the last 3 hours).
    pub async fn list_events(&self, club: Option<&str>) -> Result<Vec<Event>, TicketError> {
        let since = now_ms() - 3 * 3_600_000;
        events_since(self.db.reader(), club.unwrap_or(""), since).await
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
