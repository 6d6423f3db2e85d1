//! Deposits through payment providers, and the provider's word on them.
//!
//! A payment's status follows its provider, not the first thing we heard:
//! `pending` until the money is ours (`succeeded`) or the provider can no
//! longer take it (`failed`: the intent was canceled, or it expired here). A
//! declined card is only a failed *attempt*: Stripe lets the fan retry on the
//! same intent, so the payment stays `pending` with its `failureReason`, and a
//! success that arrives after anything else still credits, exactly once.

use sqlx::{AnyConnection, Row};

use crate::db::{new_id, now_ms, rfc3339};
use crate::domain::Invalid;
use crate::notifications;
use crate::replay::Replay;
use crate::wallet::Wallet;
use crate::wallet::error::{ChargeError, WalletError};
use crate::wallet::ledger::{self, AccountKind, Operation, Posting};
use crate::wallet::model::*;
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::provider::{DepositRequest, ProviderOutcome};
use crate::wallet::service::parse_amount;

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

pub struct DepositInput {
    pub amount: crate::wallet::money::AmountInput,
    pub method: String,
    pub currency: Option<Currency>,
}

impl Wallet {
    /// Starts a deposit. The answer (201 settled, 202 pending) is stored with
    /// the key in the same transaction as the money or the provider's reference,
    /// so a retry after a crash replays it.
    pub async fn deposit(
        &self,
        user_id: &str,
        input: DepositInput,
        replay: &Replay<DepositResponse>,
    ) -> Result<DepositResponse, WalletError> {
        let provider = self.payments.for_method(&input.method).ok_or_else(|| {
            Invalid::field(
                "method",
                "unsupported_method",
                format!("supported methods: {}", self.payments.methods().join(", ")),
            )
        })?;
        let currency = match input.currency {
            Some(c) => c,
            None => self.primary_currency(user_id).await?,
        };
        let amount = parse_amount(&input.amount, currency)?;
        let scale = 10i64.pow(currency.digits());
        let (per_op, per_day) = self
            .deposit_limits
            .iter()
            .find(|l| l.0 == currency.code())
            .map(|l| (l.1 * scale, l.2 * scale))
            .unwrap_or((0, 0));
        if amount > per_op {
            return Err(Invalid::field(
                "amount",
                "over_limit",
                format!(
                    "at most {} {} per deposit",
                    format_minor(per_op, currency),
                    currency.code()
                ),
            )
            .into());
        }

        let payment_id = new_id();
        let now = now_ms();
        let method = input.method.trim().to_ascii_lowercase();

        // Phase 1: reserve the daily allowance and record the payment.
        let mut tx = self.db.begin_write().await?;
        let reserved =
            use_allowance(tx.conn(), user_id, currency, day_of(now), amount, per_day).await?;
        if !reserved {
            return Err(WalletError::DailyLimitExceeded {
                limit: format_minor(per_day, currency),
                currency,
            });
        }
        sqlx::query(
        "INSERT INTO payments (id, user_id, provider, method, amount, currency, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
    )
    .bind(&payment_id)
    .bind(user_id)
    .bind(provider.name())
    .bind(&method)
    .bind(amount)
    .bind(currency.code())
    .bind(now)
    .execute(tx.conn())
    .await?;
        tx.commit().await?;

        // Phase 2: the provider, outside any database transaction.
        let outcome = provider
            .start_deposit(DepositRequest {
                payment_id: &payment_id,
                user_id,
                amount,
                currency,
            })
            .await;
        let payment_view = |status: &str, intent: Option<PaymentIntent>| Payment {
            id: payment_id.clone(),
            provider: provider.name().to_owned(),
            method: method.clone(),
            amount: format_minor(amount, currency),
            currency: currency.code().to_owned(),
            status: status.to_owned(),
            failure_reason: None,
            payment_intent: intent,
            created_at: rfc3339(now),
        };
        match outcome {
            Err(err) => {
                tracing::warn!(error = %err, payment = %payment_id, "deposit: provider failed");
                let mut tx = self.db.begin_write().await?;
                fail_in(tx.conn(), &payment_id, "provider_unavailable").await?;
                tx.commit().await?;
                Err(WalletError::ProviderUnavailable)
            }
            Ok(ProviderOutcome::Pending {
                provider_ref,
                client_secret,
            }) => {
                let mut tx = self.db.begin_write().await?;
                sqlx::query(
                "UPDATE payments SET provider_ref = $2, client_secret = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(&payment_id)
            .bind(&provider_ref)
            .bind(client_secret.as_deref())
            .bind(now_ms())
            .execute(tx.conn())
            .await?;
                let bal =
                    ledger::balance_of(tx.conn(), AccountKind::User, user_id, currency).await?;
                let resp = DepositResponse {
                    status: "pending".into(),
                    payment: payment_view(
                        "pending",
                        Some(PaymentIntent {
                            id: provider_ref,
                            client_secret,
                        }),
                    ),
                    transaction: None,
                    new_balance: format_minor(bal, currency),
                    currency: currency.code().to_owned(),
                };
                replay.success(tx.conn(), &resp).await?;
                tx.commit().await?;
                Ok(resp)
            }
            Ok(ProviderOutcome::Settled) => {
                let mut tx = self.db.begin_write().await?;
                let settled = settle_in(
                    tx.conn(),
                    &payment_id,
                    None,
                    replay.key().map(|k| k.key.as_str()),
                )
                .await?
                .ok_or_else(|| {
                    WalletError::Internal(format!("payment {payment_id} was not pending"))
                })?;
                let resp = DepositResponse {
                    status: "completed".into(),
                    payment: payment_view("succeeded", None),
                    transaction: Some(
                        self.view_of(tx.conn(), user_id, &settled.transfer_id)
                            .await?,
                    ),
                    new_balance: format_minor(settled.balance, currency),
                    currency: currency.code().to_owned(),
                };
                replay.success(tx.conn(), &resp).await?;
                tx.commit().await?;
                self.notifier
                    .publish(&settled.user_id, &settled.notification);
                Ok(resp)
            }
        }
    }

    /// A fan's own payment (404 for anyone else's).
    pub async fn payment(&self, user_id: &str, id: &str) -> Result<Payment, WalletError> {
        let row = sqlx::query(
            "SELECT id, provider, method, amount, currency, status, failure_reason, provider_ref,
                client_secret, created_at
         FROM payments WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(WalletError::NotFound("payment"))?;
        let code: String = row.try_get("currency")?;
        let currency = Currency::stored(&code)?;
        let status: String = row.try_get("status")?;
        // The client secret only matters while the fan can still pay.
        let client_secret: Option<String> = if status == "pending" {
            row.try_get("client_secret")?
        } else {
            None
        };
        Ok(Payment {
            id: row.try_get("id")?,
            provider: row.try_get("provider")?,
            method: row.try_get("method")?,
            amount: format_minor(row.try_get("amount")?, currency),
            currency: code,
            payment_intent: row
                .try_get::<Option<String>, _>("provider_ref")?
                .map(|id| PaymentIntent { id, client_secret }),
            failure_reason: row.try_get("failure_reason")?,
            status,
            created_at: rfc3339(row.try_get("created_at")?),
        })
    }

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

/// Adds `amount` to the day's deposit total if it stays within `per_day`.
async fn use_allowance(
    conn: &mut AnyConnection,
    user_id: &str,
    currency: Currency,
    day: i64,
    amount: i64,
    per_day: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO deposit_usage (user_id, currency, day, total) VALUES ($1, $2, $3, 0)
         ON CONFLICT (user_id, currency, day) DO NOTHING",
    )
    .bind(user_id)
    .bind(currency.code())
    .bind(day)
    .execute(&mut *conn)
    .await?;
    let n = sqlx::query(
        "UPDATE deposit_usage SET total = total + $4
         WHERE user_id = $1 AND currency = $2 AND day = $3 AND total + $4 <= $5",
    )
    .bind(user_id)
    .bind(currency.code())
    .bind(day)
    .bind(amount)
    .bind(per_day)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Ends a pending payment (`failed`, with why) and gives back its share of
/// the daily limit. False when it was no longer pending.
async fn fail_in(
    conn: &mut AnyConnection,
    payment_id: &str,
    reason: &str,
) -> Result<bool, WalletError> {
    let row = sqlx::query(
        "UPDATE payments SET status = 'failed', failure_reason = $3, updated_at = $2
         WHERE id = $1 AND status = 'pending'
         RETURNING user_id, amount, currency, created_at",
    )
    .bind(payment_id)
    .bind(now_ms())
    .bind(reason)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let user_id: String = row.try_get("user_id")?;
    let amount: i64 = row.try_get("amount")?;
    let currency: String = row.try_get("currency")?;
    let created: i64 = row.try_get("created_at")?;
    sqlx::query(
        "UPDATE deposit_usage SET total = total - $4 WHERE user_id = $1 AND currency = $2 AND day = $3 AND total >= $4",
    )
    .bind(&user_id)
    .bind(&currency)
    .bind(day_of(created))
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(true)
}

struct Settled {
    transfer_id: String,
    balance: i64,
    user_id: String,
    notification: notifications::Notification,
}

/// Credits a payment to its owner's wallet exactly once. Each step is a
/// conditional update, so a second settlement (a webhook delivered twice, a
/// race with a retry) finds nothing to do. A payment that had already
/// `failed` here (canceled, expired) is still credited when the provider
/// says the money came: the fan was charged. Its daily allowance, given back
/// when it failed, is taken again without a limit check (the money is in).
async fn settle_in(
    conn: &mut AnyConnection,
    payment_id: &str,
    provider_ref: Option<&str>,
    idempotency_key: Option<&str>,
) -> Result<Option<Settled>, WalletError> {
    let mut row = None;
    let mut revived = false;
    for from in ["pending", "failed"] {
        row = sqlx::query(
            "UPDATE payments SET status = 'succeeded', provider_ref = COALESCE(provider_ref, $2),
                    provider_status = 'succeeded', updated_at = $3
             WHERE id = $1 AND status = $4
             RETURNING user_id, provider, amount, currency, created_at",
        )
        .bind(payment_id)
        .bind(provider_ref)
        .bind(now_ms())
        .bind(from)
        .fetch_optional(&mut *conn)
        .await?;
        if row.is_some() {
            revived = from == "failed";
            break;
        }
    }
    let Some(row) = row else {
        return Ok(None);
    };
    let user_id: String = row.try_get("user_id")?;
    let provider: String = row.try_get("provider")?;
    let amount: i64 = row.try_get("amount")?;
    let code: String = row.try_get("currency")?;
    let currency = Currency::stored(&code)?;
    if revived {
        tracing::warn!(payment = %payment_id, "provider confirmed a payment that had failed here: crediting it");
        use_allowance(
            conn,
            &user_id,
            currency,
            day_of(row.try_get("created_at")?),
            amount,
            i64::MAX / 2,
        )
        .await?;
    }
    let funding =
        ledger::account_id(conn, AccountKind::ProviderFunding, &provider, currency).await?;
    let wallet = ledger::account_id(conn, AccountKind::User, &user_id, currency).await?;
    let posted = ledger::post(
        conn,
        Operation {
            kind: "deposit",
            user_id: Some(&user_id),
            idempotency_key,
        },
        vec![Posting {
            debit: funding,
            credit: wallet.clone(),
            amount,
            currency,
            kind: "deposit",
            reference: Some(("payment", payment_id.to_owned())),
            note: None,
            metadata: None,
        }],
    )
    .await
    .map_err(|e| ChargeError::from_ledger(e, currency))?;
    sqlx::query("UPDATE payments SET operation_id = $2 WHERE id = $1")
        .bind(payment_id)
        .bind(&posted.operation_id)
        .execute(&mut *conn)
        .await?;
    let money = format_minor(amount, currency);
    let notification = notifications::notify(
        conn,
        &user_id,
        "wallet.deposit",
        "Deposit received",
        &format!("{money} {} added to your wallet", currency.code()),
        Some(serde_json::json!({"paymentId": payment_id, "amount": money, "currency": currency.code()})),
    )
    .await?;
    Ok(Some(Settled {
        transfer_id: posted.transfers[0].id.clone(),
        balance: posted.balances[&wallet],
        user_id,
        notification,
    }))
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
