//! Staff of the home club (and admins) create and edit matches and categories.

use sqlx::Row;

use crate::db::{new_id, now_ms};
use crate::domain::{Caller, Invalid};
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::store::{CATEGORY_NAME, CATEGORY_SOLD, SALE_WINDOW, get_event};
use crate::wallet::error::amount_invalid;
use crate::wallet::money::Currency;

impl Tickets {
    async fn club_currency(&self, club: &str, field: &str) -> Result<Currency, TicketError> {
        let row = sqlx::query("SELECT currency FROM clubs WHERE id = $1")
            .bind(club)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or_else(|| Invalid::field(field, "unknown_club", format!("no club {club}")))?;
        Ok(Currency::stored(&row.try_get::<String, _>("currency")?)?)
    }

    pub async fn create_event(&self, user: &Caller, e: NewEvent) -> Result<Event, TicketError> {
        user.require_staff_of(&e.home_club)?;
        let currency = self.club_currency(&e.home_club, "homeClub").await?;
        let away_team = match (&e.away_club, &e.away_team) {
            (Some(club), team) => {
                self.club_currency(club, "awayClub").await?;
                match team {
                    Some(t) => t.clone(),
                    None => sqlx::query("SELECT name FROM clubs WHERE id = $1")
                        .bind(club)
                        .fetch_one(self.db.reader())
                        .await?
                        .try_get("name")?,
                }
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
        sqlx::query(
        "INSERT INTO events (id, home_club_id, away_club_id, away_team, competition, venue, kickoff_at,
                             sale_starts_at, sale_ends_at, per_fan_limit, tickets_issued, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11)",
    )
    .bind(&id)
    .bind(&e.home_club)
    .bind(e.away_club.as_deref())
    .bind(&away_team)
    .bind(e.competition.trim())
    .bind(e.venue.trim())
    .bind(kickoff)
    .bind(starts)
    .bind(ends)
    .bind(e.per_fan_limit.unwrap_or(4))
    .bind(now)
    .execute(tx.conn())
    .await?;
        for (c, price) in e.categories.iter().zip(prices) {
            sqlx::query(
            "INSERT INTO ticket_categories (id, event_id, name, price, currency, capacity, sold, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .bind(new_id())
        .bind(&id)
        .bind(c.name.trim())
        .bind(price)
        .bind(currency.code())
        .bind(c.capacity)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(category_conflict)?;
        }
        tx.commit().await?;
        get_event(self.db.reader(), &id).await
    }

    async fn event_home_club(&self, id: &str) -> Result<String, TicketError> {
        Ok(sqlx::query("SELECT home_club_id FROM events WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or(TicketError::NotFound("event"))?
            .try_get("home_club_id")?)
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
        let updated = sqlx::query(
        "UPDATE events SET competition = COALESCE($2, competition), venue = COALESCE($3, venue),
                kickoff_at = COALESCE($4, kickoff_at), sale_starts_at = COALESCE($5, sale_starts_at),
                sale_ends_at = COALESCE($6, sale_ends_at), per_fan_limit = COALESCE($7, per_fan_limit),
                updated_at = $8
         WHERE id = $1",
    )
    .bind(id)
    .bind(u.competition.as_deref().map(str::trim))
    .bind(u.venue.as_deref().map(str::trim))
    .bind(kickoff)
    .bind(starts)
    .bind(ends)
    .bind(u.per_fan_limit)
    .bind(now_ms())
    .execute(tx.conn())
    .await;
        match updated {
            Ok(_) => tx.commit().await?,
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
        let currency = self.club_currency(&club, "homeClub").await?;
        let price = c
            .price
            .parse(currency)
            .map_err(|e| amount_invalid("price", e))?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
        "INSERT INTO ticket_categories (id, event_id, name, price, currency, capacity, sold, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
    )
    .bind(new_id())
    .bind(id)
    .bind(c.name.trim())
    .bind(price)
    .bind(currency.code())
    .bind(c.capacity)
    .bind(now_ms())
    .execute(tx.conn())
    .await
    .map_err(category_conflict)?;
        tx.commit().await?;
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
        let currency = self.club_currency(&club, "homeClub").await?;
        let price = u
            .price
            .as_ref()
            .map(|p| p.parse(currency).map_err(|e| amount_invalid("price", e)))
            .transpose()?;
        let mut tx = self.db.begin_write().await?;
        // Capacity never drops below what is sold: the CHECK (sold <= capacity)
        // rejects it, whatever sales happen concurrently.
        let n = sqlx::query(
        "UPDATE ticket_categories SET price = COALESCE($3, price), capacity = COALESCE($4, capacity)
         WHERE id = $1 AND event_id = $2",
    )
    .bind(category_id)
    .bind(id)
    .bind(price)
    .bind(u.capacity)
    .execute(tx.conn())
    .await
    .map_err(category_conflict)?
    .rows_affected();
        if n == 0 {
            return Err(TicketError::NotFound("ticket category"));
        }
        tx.commit().await?;
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
