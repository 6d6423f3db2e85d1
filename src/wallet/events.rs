//! The provider's word on deposits: Stripe events applied once, events that
//! cannot be applied kept as dead letters for an admin, and the expiry of
//! deposits the fan never completed.

use crate::db::{new_id, now_ms, rfc3339};
use crate::wallet::Wallet;
use crate::wallet::error::WalletError;
use crate::wallet::model::*;

use crate::wallet::payments::{fail_in, settle_in};
use crate::wallet::store::{self, DeadLetterEntry};

/// The provider name Stripe's rows carry.
const STRIPE: &str = "stripe";

impl Wallet {
    /// Handles one verified Stripe event (`payload` is its raw JSON, kept for
    /// the dead-letter list).
    pub async fn stripe_event(
        &self,
        event: &serde_json::Value,
        payload: &str,
    ) -> Result<EventOutcome, WalletError> {
        let event_id = event["id"]
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .ok_or(WalletError::InvalidEvent("the event has no id"))?;
        let kind = event["type"].as_str().unwrap_or_default();
        let outcome = self.apply_stripe_event(event_id, kind, event).await?;
        if let EventOutcome::DeadLettered(reason) = outcome {
            tracing::error!(event = %event_id, kind, reason, "stripe event could not be applied: dead-lettered");
            let now = now_ms();
            let mut tx = self.db.begin_write().await?;
            store::dead_letter(
                tx.conn(),
                DeadLetterEntry {
                    id: &new_id(),
                    provider: STRIPE,
                    event_id,
                    event_type: kind,
                    payload,
                    reason,
                    now,
                },
            )
            .await?;
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// The effect of one event, in one transaction with the record that it was
    /// handled: a crash in between leaves neither, and the redelivery does the
    /// work. An event that cannot be applied leaves no record (a replay of the
    /// dead letter may apply it later).
    async fn apply_stripe_event(
        &self,
        event_id: &str,
        kind: &str,
        event: &serde_json::Value,
    ) -> Result<EventOutcome, WalletError> {
        let object = &event["data"]["object"];
        let intent_id = object["id"].as_str().unwrap_or_default();
        let payment_id = object["metadata"]["payment_id"]
            .as_str()
            .unwrap_or_default();

        let mut tx = self.db.begin_write().await?;
        if !store::first_delivery(tx.conn(), STRIPE, event_id, now_ms()).await? {
            return Ok(EventOutcome::Duplicate);
        }
        // Our payment, by Stripe's intent id, else by our id in the metadata.
        let payment = store::provider_payment(tx.conn(), STRIPE, payment_id, intent_id).await?;
        // The intent and the metadata must name the same payment: one intent
        // can never settle another fan's deposit.
        if let Some(p) = &payment {
            let meta_differs = !payment_id.is_empty() && payment_id != p.id;
            let intent_differs = !intent_id.is_empty()
                && p.provider_ref
                    .as_deref()
                    .is_some_and(|r| !r.is_empty() && r != intent_id);
            if meta_differs || intent_differs {
                return Ok(EventOutcome::DeadLettered("payment_mismatch"));
            }
        }
        let mut settled = None;
        match (kind, payment) {
            ("payment_intent.succeeded", None) => {
                return Ok(EventOutcome::DeadLettered("unknown_payment"));
            }
            ("payment_intent.succeeded", Some(payment)) => {
                let (pid, expected, code) = (payment.id, payment.amount, payment.currency);
                let received = object["amount_received"]
                    .as_i64()
                    .or_else(|| object["amount"].as_i64());
                let currency_ok = object["currency"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(&code));
                if received != Some(expected) || !currency_ok {
                    // Never credit an amount other than the one the fan asked for.
                    return Ok(EventOutcome::DeadLettered("amount_mismatch"));
                }
                settled = settle_in(
                    tx.conn(),
                    &pid,
                    Some(intent_id).filter(|s| !s.is_empty()),
                    None,
                )
                .await?;
            }
            ("payment_intent.payment_failed", Some(payment)) => {
                // One declined attempt: the fan may retry on the same intent.
                let error = &object["last_payment_error"];
                let reason = error["code"]
                    .as_str()
                    .or_else(|| error["decline_code"].as_str())
                    .unwrap_or("payment_failed");
                store::provider_says(
                    tx.conn(),
                    &payment.id,
                    "requires_payment_method",
                    Some(reason),
                    now_ms(),
                )
                .await?;
            }
            ("payment_intent.processing", Some(payment)) => {
                store::provider_says(tx.conn(), &payment.id, "processing", None, now_ms()).await?;
            }
            ("payment_intent.canceled", Some(payment)) => {
                fail_in(tx.conn(), &payment.id, "canceled").await?;
            }
            (other, None) if other.starts_with("payment_intent.") => {
                // Nothing of ours to change, and no money involved.
                tracing::warn!(event = %event_id, kind = other, "stripe event for an unknown payment ignored");
            }
            _ => {}
        }
        tx.commit().await?;
        if let Some(s) = settled {
            self.notifier.publish(&s.user_id, &s.notification);
        }
        Ok(EventOutcome::Applied)
    }

    /// Dead-lettered provider events, newest first.
    pub async fn dead_letters(
        &self,
        include_resolved: bool,
    ) -> Result<Vec<DeadLetter>, WalletError> {
        let rows = store::dead_letters(self.db.reader(), include_resolved).await?;
        Ok(rows
            .into_iter()
            .map(|r| DeadLetter {
                id: r.id,
                provider: r.provider,
                event_id: r.event_id,
                event_type: r.event_type,
                reason: r.reason,
                attempts: r.attempts,
                created_at: rfc3339(r.created_at),
                updated_at: rfc3339(r.updated_at),
                resolved_at: r.resolved_at.map(rfc3339),
            })
            .collect())
    }

    /// Applies a dead-lettered event again (after its payment appeared, say).
    /// Resolved when it applies; 409 with the reason when it still cannot.
    pub async fn replay_dead_letter(&self, id: &str) -> Result<DeadLetter, WalletError> {
        let payload = store::dead_letter_payload(self.db.reader(), STRIPE, id)
            .await?
            .ok_or(WalletError::NotFound("dead letter"))?;
        let event: serde_json::Value = serde_json::from_str(&payload)
            .map_err(|e| WalletError::Internal(format!("stored event unreadable: {e}")))?;
        match self.stripe_event(&event, &payload).await? {
            EventOutcome::DeadLettered(reason) => Err(WalletError::EventNotApplicable {
                reason: reason.to_owned(),
            }),
            EventOutcome::Applied | EventOutcome::Duplicate => {
                let mut tx = self.db.begin_write().await?;
                store::resolve_dead_letter(tx.conn(), id, now_ms()).await?;
                tx.commit().await?;
                self.dead_letters(true)
                    .await?
                    .into_iter()
                    .find(|d| d.id == id)
                    .ok_or(WalletError::NotFound("dead letter"))
            }
        }
    }

    /// Ends card deposits whose intent was never completed within `max_age`:
    /// the fan's daily allowance comes back and the provider is asked to cancel
    /// the intent. If the money comes in after all, the success still credits.
    pub async fn expire_pending(&self, max_age: std::time::Duration) -> Result<usize, WalletError> {
        let cutoff = now_ms() - max_age.as_millis() as i64;
        let rows = store::pending_since(self.db.reader(), cutoff).await?;
        let mut expired = 0;
        for r in rows {
            let id = r.id;
            let mut tx = self.db.begin_write().await?;
            let ended = fail_in(tx.conn(), &id, "expired").await?;
            tx.commit().await?;
            if !ended {
                continue;
            }
            expired += 1;
            if let (Some(p), Some(reference)) =
                (self.payments.for_method(&r.provider), r.provider_ref)
                && let Err(e) = p.cancel(&reference).await
            {
                tracing::warn!(payment = %id, error = %e, "expired deposit: the provider did not cancel it");
            }
            tracing::info!(payment = %id, "pending deposit expired");
        }
        Ok(expired)
    }
}

/// What became of a provider event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    Applied,
    Duplicate,
    /// Could not be applied; kept in the dead-letter list with this reason.
    DeadLettered(&'static str),
}
