//! Buying tickets: the sale window, the price the fan saw, the per-fan
//! limit and the seats left, each enforced by one conditional statement.

use sqlx::Row;

use crate::db::{new_id, now_ms};
use crate::replay::Replay;
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::rules::{SaleWindow, price_guard, quantity_within};
use crate::tickets::store::*;
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::sales::{self, Charge, ChargeLine, Payee};

pub struct PurchaseInput {
    pub event_id: String,
    pub category: String,
    pub quantity: i64,
    pub price: Option<crate::wallet::money::AmountInput>,
    pub holder_name: Option<String>,
}

impl Tickets {
    pub async fn purchase(
        &self,
        user_id: &str,
        input: PurchaseInput,
        replay: &Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, TicketError> {
        let now = now_ms();
        let q = input.quantity;
        let holder = match input.holder_name {
            Some(h) => h.trim().to_owned(),
            None => sqlx::query("SELECT name FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(self.db.reader())
                .await?
                .try_get("name")?,
        };
        let mut tx = self.db.begin_write().await?;
        let event = sqlx::query(
        "SELECT e.id, e.home_club_id, e.kickoff_at, e.sale_starts_at, e.sale_ends_at, e.per_fan_limit
         FROM events e WHERE e.id = $1",
    )
    .bind(&input.event_id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(TicketError::NotFound("event"))?;
        let home_club: String = event.try_get("home_club_id")?;
        let kickoff: i64 = event.try_get("kickoff_at")?;
        let starts: i64 = event.try_get("sale_starts_at")?;
        let ends: i64 = event.try_get("sale_ends_at")?;
        let limit: i64 = event.try_get("per_fan_limit")?;
        let category = sqlx::query(
            "SELECT id, name, price, currency FROM ticket_categories
         WHERE event_id = $1 AND (id = $2 OR LOWER(name) = LOWER($2))",
        )
        .bind(&input.event_id)
        .bind(input.category.trim())
        .fetch_optional(tx.conn())
        .await?
        .ok_or(TicketError::NotFound("ticket category"))?;
        let category_id: String = category.try_get("id")?;
        let price: i64 = category.try_get("price")?;
        let currency = Currency::stored(&category.try_get::<String, _>("currency")?)?;

        SaleWindow {
            starts,
            ends,
            kickoff,
        }
        .check(now)?;
        price_guard(input.price.as_ref(), price, currency)?;
        quantity_within(q, limit)?;

        // Per-fan limit and seats: each a conditional update, so no amount of
        // concurrency can pass either bound.
        sqlx::query(
            "INSERT INTO event_fan_purchases (event_id, user_id, bought) VALUES ($1, $2, 0)
         ON CONFLICT (event_id, user_id) DO NOTHING",
        )
        .bind(&input.event_id)
        .bind(user_id)
        .execute(tx.conn())
        .await?;
        let within_limit = sqlx::query(
            "UPDATE event_fan_purchases SET bought = bought + $3
         WHERE event_id = $1 AND user_id = $2 AND bought + $3 <= $4",
        )
        .bind(&input.event_id)
        .bind(user_id)
        .bind(q)
        .bind(limit)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if within_limit == 0 {
            return Err(TicketError::LimitReached { limit });
        }
        let seats = sqlx::query(
            "UPDATE ticket_categories SET sold = sold + $2 WHERE id = $1 AND sold + $2 <= capacity",
        )
        .bind(&category_id)
        .bind(q)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if seats == 0 {
            return Err(TicketError::SoldOut);
        }
        let issued: i64 = sqlx::query(
            "UPDATE events SET tickets_issued = tickets_issued + $2, updated_at = $3 WHERE id = $1
         RETURNING tickets_issued",
        )
        .bind(&input.event_id)
        .bind(q)
        .bind(now)
        .fetch_one(tx.conn())
        .await?
        .try_get("tickets_issued")?;

        let ticket_ids: Vec<String> = (0..q).map(|_| new_id()).collect();
        let bps = self.rules.commission_bps;
        let charged = sales::charge(
            tx.conn(),
            Charge {
                buyer: user_id,
                currency,
                operation: "ticket_purchase",
                kind: "ticket",
                idempotency_key: replay.key().map(|k| k.key.as_str()),
                lines: vec![ChargeLine {
                    payee: Payee::Club {
                        club_id: &home_club,
                        commission_bps: bps,
                    },
                    amount: price * q,
                    reference: ("event", input.event_id.clone()),
                }],
                metadata: Some(serde_json::json!({"tickets": ticket_ids, "category": category_id})),
            },
        )
        .await?;

        for (i, id) in ticket_ids.iter().enumerate() {
            let serial = issued - q + 1 + i as i64;
            sqlx::query(
            "INSERT INTO tickets (id, event_id, category_id, buyer_id, owner_id, holder_name, serial, status, version,
                                  inside, price, currency, commission_bps, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4, $5, $6, 'valid', 1, 0, $7, $8, $9, $10, $10)",
        )
        .bind(id)
        .bind(&input.event_id)
        .bind(&category_id)
        .bind(user_id)
        .bind(&holder)
        .bind(serial)
        .bind(price)
        .bind(currency.code())
        .bind(bps)
        .bind(now)
        .execute(tx.conn())
        .await?;
            append_provenance(
                tx.conn(),
                &self.signer,
                Link {
                    ticket_id: id,
                    kind: "issued",
                    version: 1,
                    from: None,
                    to: Some(user_id),
                    at: now,
                },
            )
            .await?;
        }
        // The answer is read and stored inside the transaction: tickets, money
        // and the Idempotency-Key's answer commit together.
        let mut tickets = Vec::with_capacity(ticket_ids.len());
        for id in &ticket_ids {
            if let Some(t) = load_ticket(tx.conn(), &self.signer, id, true).await? {
                tickets.push(t.view);
            }
        }
        let first = tickets
            .first()
            .cloned()
            .ok_or_else(|| TicketError::Internal("purchased tickets vanished".into()))?;
        let resp = PurchaseResponse {
            ticket: first,
            tickets,
            new_balance: format_minor(charged.balance, currency),
            currency: currency.code().to_owned(),
        };
        replay.success(tx.conn(), &resp).await?;
        tx.commit().await?;
        Ok(resp)
    }
}
