//! What a ticket's owner can do with it: transfer, refund, and its public
//! ownership chain (provenance and metadata).

use crate::db::now_ms;
use crate::domain::{Caller, ClubId, Invalid};
use crate::http::validate::normalize_email;
use crate::infra::readmodel::Topic;
use crate::notifications;
use crate::replay::Replay;
use crate::tickets::Tickets;
use crate::tickets::error::TicketError;
use crate::tickets::model::*;
use crate::tickets::rules::refund_open;
use crate::tickets::store::sales::{self as sales_store, Refunded};
use crate::tickets::store::*;
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::sales::{self, Charge, ChargeLine, Payee};

impl Tickets {
    pub async fn transfer(
        &self,
        user: &Caller,
        ticket_id: &str,
        recipient_id: Option<&str>,
        recipient_email: Option<&str>,
        replay: &Replay<TicketResponse>,
    ) -> Result<TicketResponse, TicketError> {
        let t = self.own_ticket(user, ticket_id).await?;
        if t.owner_id != user.id {
            return Err(TicketError::NotFound("ticket"));
        }
        let recipient = match (recipient_id, recipient_email) {
            (Some(id), _) => {
                sales_store::recipient(self.db.reader(), Some(id.trim()), None).await?
            }
            (None, Some(e)) => match normalize_email(e) {
                Some(e) => sales_store::recipient(self.db.reader(), None, Some(&e)).await?,
                None => None,
            },
            (None, None) => None,
        };
        let (to, to_name) = recipient.ok_or(TicketError::NotFound("recipient"))?;
        if to == user.id {
            return Err(Invalid::field(
                "recipientId",
                "self_transfer",
                "this ticket is already yours",
            )
            .into());
        }
        let now = now_ms();
        if now >= t.kickoff_at {
            return Err(TicketError::NotTransferable("the match has started".into()));
        }
        let mut tx = self.db.begin_write().await?;
        let version = sales_store::hand_over(tx.conn(), ticket_id, &user.id, &to, &to_name, now)
            .await?
            .ok_or_else(|| {
                TicketError::NotTransferable(format!(
                    "a {} ticket cannot be transferred",
                    t.view.status
                ))
            })?;
        append_provenance(
            tx.conn(),
            &self.signer,
            Link {
                ticket_id,
                kind: "transferred",
                version,
                from: Some(&user.id),
                to: Some(&to),
                at: now,
            },
        )
        .await?;
        let note = notifications::notify(
            tx.conn(),
            &to,
            "ticket.received",
            "Ticket received",
            &format!(
                "You received a ticket for {} vs {}",
                t.view.event.home_team, t.view.event.away_team
            ),
            Some(serde_json::json!({"ticketId": ticket_id})),
        )
        .await?;
        let after = load_ticket(tx.conn(), &self.signer, ticket_id, false)
            .await?
            .ok_or(TicketError::NotFound("ticket"))?;
        let resp = TicketResponse { ticket: after.view };
        replay.success(tx.conn(), &resp).await?;
        tx.commit().await?;
        self.notifier.publish(&to, &note);
        Ok(resp)
    }

    pub async fn refund(
        &self,
        user: &Caller,
        ticket_id: &str,
        replay: &Replay<RefundResponse>,
    ) -> Result<RefundResponse, TicketError> {
        let t = self.own_ticket(user, ticket_id).await?;
        if t.owner_id != user.id {
            return Err(TicketError::NotFound("ticket"));
        }
        if t.buyer_id != user.id {
            return Err(TicketError::NotRefundable(
                "a ticket received from another fan cannot be refunded".into(),
            ));
        }
        let now = now_ms();
        refund_open(now, t.kickoff_at, self.rules.refund_cutoff_hours)?;
        let currency = Currency::stored(&t.view.currency)?;
        let mut tx = self.db.begin_write().await?;
        let Refunded { version, .. } =
            sales_store::refund_ticket(tx.conn(), ticket_id, &user.id, now)
                .await?
                .ok_or_else(|| {
                    TicketError::NotRefundable(format!(
                        "a {} ticket cannot be refunded",
                        t.view.status
                    ))
                })?;
        let refunded = sales::refund(
            tx.conn(),
            Charge {
                buyer: &user.id,
                currency,
                operation: "ticket_refund",
                kind: "ticket",
                idempotency_key: replay.key().map(|k| k.key.as_str()),
                lines: vec![ChargeLine {
                    payee: Payee::Club {
                        club_id: &ClubId::from(t.home_club_id.as_str()),
                        commission_bps: t.commission_bps,
                        items: 1,
                    },
                    amount: t.price_minor,
                    reference: ("ticket", ticket_id.to_owned()),
                }],
                metadata: None,
            },
        )
        .await?;
        append_provenance(
            tx.conn(),
            &self.signer,
            Link {
                ticket_id,
                kind: "refunded",
                version,
                from: Some(&user.id),
                to: None,
                at: now,
            },
        )
        .await?;
        let after = load_ticket(tx.conn(), &self.signer, ticket_id, false)
            .await?
            .ok_or(TicketError::NotFound("ticket"))?;
        let resp = RefundResponse {
            ticket: after.view,
            refunded: format_minor(t.price_minor, currency),
            new_balance: format_minor(refunded.balance, currency),
            currency: currency.code().to_owned(),
        };
        replay.success(tx.conn(), &resp).await?;
        tx.commit().await?;
        self.read.sold(Topic::Events);
        Ok(resp)
    }

    pub async fn metadata(&self, ticket_id: &str) -> Result<NftMetadata, TicketError> {
        let t = load_ticket(self.db.reader(), &self.signer, ticket_id, false)
            .await?
            .ok_or(TicketError::NotFound("ticket"))?
            .view;
        let title = format!("{} vs {}", t.event.home_team, t.event.away_team);
        let svg = format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="300"><rect width="600" height="300" rx="24" fill="#0b1f3a"/><text x="40" y="90" font-family="sans-serif" font-size="34" fill="#fff">{}</text><text x="40" y="150" font-family="sans-serif" font-size="22" fill="#9fc3ff">{} · {}</text><text x="40" y="230" font-family="sans-serif" font-size="28" fill="#ffd24d">{} #{}</text></svg>"##,
            xml_escape(&title),
            xml_escape(&t.event.competition),
            xml_escape(&t.event.kickoff[..10.min(t.event.kickoff.len())]),
            xml_escape(&t.category),
            t.serial
        );
        use base64::Engine;
        let image = format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg)
        );
        let attr = |k: &str, v: serde_json::Value| Attribute {
            trait_type: k.to_owned(),
            value: v,
        };
        Ok(NftMetadata {
            name: format!("{title} — {} #{}", t.category, t.serial),
            description: format!(
                "Match ticket for {title} ({}), {} at {}. Signed by PaieCashFan; verify with GET /api/keys.",
                t.event.competition, t.event.kickoff, t.event.venue
            ),
            image,
            external_url: format!("/api/tickets/{}/metadata", t.id),
            attributes: vec![
                attr("match", title.clone().into()),
                attr("competition", t.event.competition.clone().into()),
                attr("kickoff", t.event.kickoff.clone().into()),
                attr("venue", t.event.venue.clone().into()),
                attr("category", t.category.clone().into()),
                attr("serial", t.serial.into()),
            ],
        })
    }

    pub async fn provenance(
        &self,
        user: &Caller,
        ticket_id: &str,
    ) -> Result<Provenance, TicketError> {
        let t = load_ticket(self.db.reader(), &self.signer, ticket_id, false)
            .await?
            .ok_or(TicketError::NotFound("ticket"))?;
        let involved = sales_store::in_chain(self.db.reader(), ticket_id, &user.id).await?;
        let staff = user.require_staff_of(&t.home_club_id).is_ok();
        if !(involved || staff) {
            return Err(TicketError::NotFound("ticket"));
        }
        let entries = sales_store::chain(self.db.reader(), ticket_id)
            .await?
            .into_iter()
            // A fan sees the links they were part of, not who held the ticket
            // before or after them; each link still verifies on its own hash
            // and signature. Staff of the club and admins see the whole chain.
            .filter(|e: &ProvenanceEntry| {
                staff || e.from.as_deref() == Some(&user.id) || e.to.as_deref() == Some(&user.id)
            })
            .collect();
        Ok(Provenance {
            ticket_id: ticket_id.to_owned(),
            kid: self.signer.kid_text(),
            public_key: self.signer.public_key_b64(),
            entries,
        })
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
