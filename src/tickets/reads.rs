//! What fans read: the matches on sale, and their own tickets with QR codes.

use sqlx::{AssertSqlSafe, Row};

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
        let now = now_ms();
        let filter =
            "WHERE ($1 = '' OR e.home_club_id = $1 OR e.away_club_id = $1) AND e.kickoff_at >= $2";
        let club = club.unwrap_or("");
        let since = now - 3 * 3_600_000;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{EVENT_SQL} {filter} ORDER BY e.kickoff_at, e.id"
        )))
        .bind(club)
        .bind(since)
        .fetch_all(self.db.reader())
        .await?;
        let cats = sqlx::query(AssertSqlSafe(format!(
            "{CATEGORY_SQL} {filter} ORDER BY c.price, c.name"
        )))
        .bind(club)
        .bind(since)
        .fetch_all(self.db.reader())
        .await?;
        let mut by_event: std::collections::HashMap<String, Vec<(Category, i64)>> =
            Default::default();
        for r in &cats {
            let price: i64 = r.try_get("price")?;
            let (event, cat) = category_from_row(r)?;
            by_event.entry(event).or_default().push((cat, price));
        }
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(event_from_row(
                    r,
                    by_event.remove(&id).unwrap_or_default(),
                    now,
                )?)
            })
            .collect()
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
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{TICKET_SQL} WHERE t.owner_id = $1 ORDER BY e.kickoff_at, t.serial"
        )))
        .bind(user_id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter()
            .map(|r| Ok(ticket_from_row(r, &self.signer, true)?.view))
            .collect()
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
