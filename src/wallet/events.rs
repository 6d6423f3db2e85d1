//! The provider's word on deposits: Stripe events applied once, events that
//! cannot be applied kept as dead letters for an admin, and the expiry of
//! deposits the fan never completed.

use sqlx::{AnyConnection, Row};

use crate::db::{new_id, now_ms, rfc3339};
use crate::wallet::Wallet;
use crate::wallet::error::WalletError;
use crate::wallet::model::*;

use crate::wallet::payments::{fail_in, settle_in};

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
            sqlx::query(
            "INSERT INTO webhook_dead_letters (id, provider, event_id, event_type, payload, reason, created_at, updated_at)
             VALUES ($1, 'stripe', $2, $3, $4, $5, $6, $6)
             ON CONFLICT (provider, event_id) DO UPDATE SET attempts = webhook_dead_letters.attempts + 1,
                 reason = excluded.reason, updated_at = excluded.updated_at, resolved_at = NULL",
        )
        .bind(new_id())
        .bind(event_id)
        .bind(kind)
        .bind(payload)
        .bind(reason)
        .bind(now)
        .execute(tx.conn())
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
        let fresh = sqlx::query(
            "INSERT INTO webhook_events (provider, event_id, received_at) VALUES ('stripe', $1, $2)
         ON CONFLICT (provider, event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(now_ms())
        .execute(tx.conn())
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            return Ok(EventOutcome::Duplicate);
        }
        // Our payment, by our id in the metadata, else by Stripe's intent id.
        let payment = sqlx::query(
            "SELECT id, amount, currency FROM payments
         WHERE provider = 'stripe' AND (id = $1 OR (provider_ref = $2 AND $2 <> ''))",
        )
        .bind(payment_id)
        .bind(intent_id)
        .fetch_optional(tx.conn())
        .await?;
        let mut settled = None;
        match (kind, payment) {
            ("payment_intent.succeeded", None) => {
                return Ok(EventOutcome::DeadLettered("unknown_payment"));
            }
            ("payment_intent.succeeded", Some(payment)) => {
                let pid: String = payment.try_get("id")?;
                let expected: i64 = payment.try_get("amount")?;
                let code: String = payment.try_get("currency")?;
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
                provider_says(
                    tx.conn(),
                    &payment.try_get::<String, _>("id")?,
                    "requires_payment_method",
                    Some(reason),
                )
                .await?;
            }
            ("payment_intent.processing", Some(payment)) => {
                provider_says(
                    tx.conn(),
                    &payment.try_get::<String, _>("id")?,
                    "processing",
                    None,
                )
                .await?;
            }
            ("payment_intent.canceled", Some(payment)) => {
                fail_in(tx.conn(), &payment.try_get::<String, _>("id")?, "canceled").await?;
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
        let rows = sqlx::query(
        "SELECT id, provider, event_id, event_type, reason, attempts, created_at, updated_at, resolved_at
         FROM webhook_dead_letters WHERE $1 = 1 OR resolved_at IS NULL ORDER BY id DESC LIMIT 500",
    )
    .bind(i64::from(include_resolved))
    .fetch_all(self.db.reader())
    .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.try_get("id")?,
                    provider: r.try_get("provider")?,
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("event_type")?,
                    reason: r.try_get("reason")?,
                    attempts: r.try_get("attempts")?,
                    created_at: rfc3339(r.try_get("created_at")?),
                    updated_at: rfc3339(r.try_get("updated_at")?),
                    resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(rfc3339),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Applies a dead-lettered event again (after its payment appeared, say).
    /// Resolved when it applies; 409 with the reason when it still cannot.
    pub async fn replay_dead_letter(&self, id: &str) -> Result<DeadLetter, WalletError> {
        let row = sqlx::query(
        "SELECT event_id, payload FROM webhook_dead_letters WHERE id = $1 AND provider = 'stripe'",
    )
    .bind(id)
    .fetch_optional(self.db.reader())
    .await?
    .ok_or(WalletError::NotFound("dead letter"))?;
        let payload: String = row.try_get("payload")?;
        let event: serde_json::Value = serde_json::from_str(&payload)
            .map_err(|e| WalletError::Internal(format!("stored event unreadable: {e}")))?;
        match self.stripe_event(&event, &payload).await? {
            EventOutcome::DeadLettered(reason) => Err(WalletError::EventNotApplicable {
                reason: reason.to_owned(),
            }),
            EventOutcome::Applied | EventOutcome::Duplicate => {
                let mut tx = self.db.begin_write().await?;
                sqlx::query(
                "UPDATE webhook_dead_letters SET resolved_at = $2, updated_at = $2 WHERE id = $1 AND resolved_at IS NULL",
            )
            .bind(id)
            .bind(now_ms())
            .execute(tx.conn())
            .await?;
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
        let rows = sqlx::query(
        "SELECT id, provider, provider_ref FROM payments WHERE status = 'pending' AND created_at <= $1",
    )
    .bind(cutoff)
    .fetch_all(self.db.reader())
    .await?;
        let mut expired = 0;
        for r in rows {
            let id: String = r.try_get("id")?;
            let mut tx = self.db.begin_write().await?;
            let ended = fail_in(tx.conn(), &id, "expired").await?;
            tx.commit().await?;
            if !ended {
                continue;
            }
            expired += 1;
            let provider: String = r.try_get("provider")?;
            if let (Some(p), Some(reference)) = (
                self.payments.for_method(&provider),
                r.try_get::<Option<String>, _>("provider_ref")?,
            ) && let Err(e) = p.cancel(&reference).await
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

/// Records what the provider reports about a still pending payment. Events
/// arrive out of order: nothing here touches a payment that has settled.
async fn provider_says(
    conn: &mut AnyConnection,
    payment_id: &str,
    provider_status: &str,
    failure: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET provider_status = $2, failure_reason = COALESCE($3, failure_reason), updated_at = $4
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(payment_id)
    .bind(provider_status)
    .bind(failure)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}
