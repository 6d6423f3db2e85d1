//! Staff of the home club (and admins) create and edit matches and categories.

use crate::db::{new_id, now_ms};
use crate::domain::{Caller, Invalid};
use crate::infra::readmodel::Topic;
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::store::admin::{
    self as admin_store, EventChanges, NewCategoryRow, NewEventRow,
};
use crate::tickets::store::gate as gate_store;
use crate::tickets::store::{CATEGORY_NAME, CATEGORY_SOLD, SALE_WINDOW, get_event};
use crate::wallet::error::amount_invalid;
use crate::wallet::money::Currency;

impl Tickets {
    /// A club's currency and name; an unknown club is a 422 on `field`.
    async fn club(&self, club: &str, field: &str) -> Result<(Currency, String), TicketError> {
        let (currency, name) = admin_store::club(self.db.reader(), club)
            .await?
            .ok_or_else(|| Invalid::field(field, "unknown_club", format!("no club {club}")))?;
        Ok((Currency::stored(&currency)?, name))
    }

    pub async fn create_event(&self, user: &Caller, e: NewEvent) -> Result<Event, TicketError> {
        user.require_staff_of(&e.home_club)?;
        let (currency, _) = self.club(&e.home_club, "homeClub").await?;
        let away_team = match (&e.away_club, &e.away_team) {
            (Some(club), team) => {
                let (_, name) = self.club(club, "awayClub").await?;
                team.clone().unwrap_or(name)
            }
            (None, Some(t)) => t.clone(),
            (None, None) => {
                return Err(
                    Invalid::field("awayTeam", "required", "give awayClub or awayTeam").into(),
                );
            }
        };
        let now = now_ms();
        let kickoff = parse_time("kickoff", &e.kickoff)?;
        let starts = match &e.sale_starts_at {
            Some(s) => parse_time("saleStartsAt", s)?,
            None => now,
        };
        let ends = match &e.sale_ends_at {
            Some(s) => parse_time("saleEndsAt", s)?,
            None => kickoff,
        };
        if !(starts <= ends && ends <= kickoff) {
            return Err(Invalid::field(
                "saleEndsAt",
                "invalid_window",
                "the sale must open before it closes, and close no later than kickoff",
            )
            .into());
        }
        let mut prices = Vec::new();
        for (i, c) in e.categories.iter().enumerate() {
            prices.push(
                c.price
                    .parse(currency)
                    .map_err(|err| amount_invalid(&format!("categories[{i}].price"), err))?,
            );
        }
        let id = new_id();
        let mut tx = self.db.begin_write().await?;
        admin_store::insert_event(
            tx.conn(),
            NewEventRow {
                id: &id,
                home_club_id: &e.home_club,
                away_club_id: e.away_club.as_deref(),
                away_team: &away_team,
                competition: e.competition.trim(),
                venue: e.venue.trim(),
                kickoff_at: kickoff,
                sale_starts_at: starts,
                sale_ends_at: ends,
                per_fan_limit: e.per_fan_limit.unwrap_or(4),
                now,
            },
        )
        .await?;
        for (c, price) in e.categories.iter().zip(prices) {
            admin_store::insert_category(
                tx.conn(),
                NewCategoryRow {
                    id: &new_id(),
                    event_id: &id,
                    name: c.name.trim(),
                    price,
                    currency: currency.code(),
                    capacity: c.capacity,
                    now,
                },
            )
            .await
            .map_err(category_conflict)?;
        }
        tx.commit().await?;
        self.read.changed(Topic::Events);
        get_event(self.db.reader(), &id).await
    }

    async fn event_home_club(&self, id: &str) -> Result<String, TicketError> {
        gate_store::home_club_of(self.db.reader(), id)
            .await?
            .ok_or(TicketError::NotFound("event"))
    }

    pub async fn update_event(
        &self,
        user: &Caller,
        id: &str,
        u: UpdateEvent,
    ) -> Result<Event, TicketError> {
        let club = self.event_home_club(id).await?;
        user.require_staff_of(&club)?;
        let t = |f: &str, v: &Option<String>| v.as_deref().map(|s| parse_time(f, s)).transpose();
        let kickoff = t("kickoff", &u.kickoff)?;
        let starts = t("saleStartsAt", &u.sale_starts_at)?;
        let ends = t("saleEndsAt", &u.sale_ends_at)?;
        let mut tx = self.db.begin_write().await?;
        let updated = admin_store::update_event(
            tx.conn(),
            id,
            EventChanges {
                competition: u.competition.as_deref().map(str::trim),
                venue: u.venue.as_deref().map(str::trim),
                kickoff_at: kickoff,
                sale_starts_at: starts,
                sale_ends_at: ends,
                per_fan_limit: u.per_fan_limit,
                now: now_ms(),
            },
        )
        .await;
        match updated {
            Ok(true) => tx.commit().await?,
            Ok(false) => return Err(TicketError::MatchPlayed),
            Err(e) if SALE_WINDOW.violated_by(&e) => {
                return Err(Invalid::field(
                    "saleEndsAt",
                    "invalid_window",
                    "the sale must open before it closes, and close no later than kickoff",
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        }
        self.read.changed(Topic::Events);
        get_event(self.db.reader(), id).await
    }

    pub async fn add_category(
        &self,
        user: &Caller,
        id: &str,
        c: NewCategory,
    ) -> Result<Event, TicketError> {
        let club = self.event_home_club(id).await?;
        user.require_staff_of(&club)?;
        let (currency, _) = self.club(&club, "homeClub").await?;
        let price = c
            .price
            .parse(currency)
            .map_err(|e| amount_invalid("price", e))?;
        let mut tx = self.db.begin_write().await?;
        admin_store::insert_category(
            tx.conn(),
            NewCategoryRow {
                id: &new_id(),
                event_id: id,
                name: c.name.trim(),
                price,
                currency: currency.code(),
                capacity: c.capacity,
                now: now_ms(),
            },
        )
        .await
        .map_err(category_conflict)?;
        tx.commit().await?;
        self.read.changed(Topic::Events);
        get_event(self.db.reader(), id).await
    }

    pub async fn update_category(
        &self,
        user: &Caller,
        id: &str,
        category_id: &str,
        u: UpdateCategory,
    ) -> Result<Event, TicketError> {
        let club = self.event_home_club(id).await?;
        user.require_staff_of(&club)?;
        let (currency, _) = self.club(&club, "homeClub").await?;
        let price = u
            .price
            .as_ref()
            .map(|p| p.parse(currency).map_err(|e| amount_invalid("price", e)))
            .transpose()?;
        let mut tx = self.db.begin_write().await?;
        // Capacity never drops below what is sold: the CHECK (sold <= capacity)
        // rejects it, whatever sales happen concurrently.
        let found = admin_store::update_category(tx.conn(), id, category_id, price, u.capacity)
            .await
            .map_err(category_conflict)?;
        if !found {
            return Err(TicketError::NotFound("ticket category"));
        }
        tx.commit().await?;
        self.read.changed(Topic::Events);
        get_event(self.db.reader(), id).await
    }
}

fn category_conflict(e: sqlx::Error) -> TicketError {
    if CATEGORY_NAME.violated_by(&e) {
        TicketError::CategoryExists
    } else if CATEGORY_SOLD.violated_by(&e) {
        TicketError::CapacityBelowSold
    } else {
        e.into()
    }
}
