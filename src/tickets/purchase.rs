//! Buying tickets: the sale window, the price the fan saw, the per-fan
//! limit and the seats left, each enforced by one conditional statement.

use crate::db::{new_id, now_ms};
use crate::domain::Invalid;
use crate::domain::{ClubId, UserId};
use crate::infra::readmodel::Topic;
use crate::replay::Replay;
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::rules::{SaleWindow, price_guard, quantity_within};
use crate::tickets::store::sales::{self as sales_store, NewTicket};
use crate::tickets::store::*;
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::sales::{self, Charge, ChargeLine, Payee};

/// The category a purchase that names none buys (v1.0 clients name none).
const STANDARD: &str = "standard";

pub struct PurchaseInput {
    pub event_id: String,
    /// Id or name; None buys the event's `standard` seats.
    pub category: Option<String>,
    pub quantity: i64,
    pub price: Option<crate::wallet::money::AmountInput>,
    pub holder_name: Option<String>,
}

impl Tickets {
    pub async fn purchase(
        &self,
        user_id: &UserId,
        input: PurchaseInput,
        replay: &Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, TicketError> {
        let now = now_ms();
        let q = input.quantity;
        let holder = match input.holder_name {
            Some(h) => h.trim().to_owned(),
            None => sales_store::user_name(self.db.reader(), user_id)
                .await?
                .unwrap_or_default(),
        };
        let mut tx = self.db.begin_write().await?;
        let event = sales_store::sale_event(tx.conn(), &input.event_id)
            .await?
            .ok_or(TicketError::NotFound("event"))?;
        let (home_club, kickoff, starts, ends, limit) = (
            ClubId::from(event.home_club_id),
            event.kickoff_at,
            event.sale_starts_at,
            event.sale_ends_at,
            event.per_fan_limit,
        );
        let wanted = input.category.as_deref().map_or(STANDARD, str::trim);
        let category = match sales_store::sale_category(tx.conn(), &input.event_id, wanted).await? {
            Some(c) => c,
            None if input.category.is_none() => {
                return Err(Invalid::field(
                    "category",
                    "required",
                    "this match has no standard seats: name a category",
                )
                .into());
            }
            None => return Err(TicketError::NotFound("ticket category")),
        };
        let (category_id, price) = (category.id, category.price);
        let currency = Currency::stored(&category.currency)?;

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
        if !sales_store::take_allowance(tx.conn(), &input.event_id, user_id, q, limit).await? {
            return Err(TicketError::LimitReached { limit });
        }
        if !sales_store::take_seats(tx.conn(), &category_id, q).await? {
            return Err(TicketError::SoldOut);
        }
        let issued = sales_store::issue_serials(tx.conn(), &input.event_id, q, now).await?;

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
                        items: q,
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
            sales_store::insert_ticket(
                tx.conn(),
                NewTicket {
                    id,
                    event_id: &input.event_id,
                    category_id: &category_id,
                    buyer_id: user_id,
                    holder_name: &holder,
                    serial,
                    price,
                    currency: currency.code(),
                    commission_bps: bps,
                    now,
                },
            )
            .await?;
            append_provenance(
                tx.conn(),
                &self.signer,
                Link {
                    ticket_id: id,
                    kind: "issued",
                    version: 1,
                    from: None,
                    to: Some(user_id.as_str()),
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
        self.read.sold(Topic::Events);
        Ok(resp)
    }
}
