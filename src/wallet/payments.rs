//! Deposits through payment providers, and the provider's word on them.
//!
//! A payment's status follows its provider, not the first thing we heard:
//! `pending` until the money is ours (`succeeded`) or the provider can no
//! longer take it (`failed`: the intent was canceled, or it expired here). A
//! declined card is only a failed *attempt*: Stripe lets the fan retry on the
//! same intent, so the payment stays `pending` with its `failureReason`, and a
//! success that arrives after anything else still credits, exactly once.

use sqlx::AnyConnection;

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
use crate::wallet::store::{self, NewPayment};
use crate::wallet::transfers::parse_amount;

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
        let reserved = store::use_allowance(
            tx.conn(),
            user_id,
            currency.code(),
            day_of(now),
            amount,
            per_day,
        )
        .await?;
        if !reserved {
            return Err(WalletError::DailyLimitExceeded {
                limit: format_minor(per_day, currency),
                currency,
            });
        }
        store::insert_payment(
            tx.conn(),
            NewPayment {
                id: &payment_id,
                user_id,
                provider: provider.name(),
                method: &method,
                amount,
                currency: currency.code(),
                now,
            },
        )
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
        let payment_view = |status: PaymentStatus, intent: Option<PaymentIntent>| Payment {
            id: payment_id.clone(),
            provider: provider.name().to_owned(),
            method: method.clone(),
            amount: format_minor(amount, currency),
            currency: currency.code().to_owned(),
            status,
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
                store::set_provider_ref(
                    tx.conn(),
                    &payment_id,
                    &provider_ref,
                    client_secret.as_deref(),
                    now_ms(),
                )
                .await?;
                let bal =
                    ledger::balance_of(tx.conn(), AccountKind::User, user_id, currency).await?;
                let resp = DepositResponse {
                    status: DepositStatus::Pending,
                    payment: payment_view(
                        PaymentStatus::Pending,
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
                    status: DepositStatus::Completed,
                    payment: payment_view(PaymentStatus::Succeeded, None),
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
        let row = store::payment_of(self.db.reader(), user_id, id)
            .await?
            .ok_or(WalletError::NotFound("payment"))?;
        let currency = Currency::stored(&row.currency)?;
        let status = PaymentStatus::stored(&row.status)?;
        // The client secret only matters while the fan can still pay.
        let client_secret = row
            .client_secret
            .filter(|_| status == PaymentStatus::Pending);
        Ok(Payment {
            id: row.id,
            provider: row.provider,
            method: row.method,
            amount: format_minor(row.amount, currency),
            currency: row.currency,
            payment_intent: row
                .provider_ref
                .map(|id| PaymentIntent { id, client_secret }),
            failure_reason: row.failure_reason,
            status,
            created_at: rfc3339(row.created_at),
        })
    }
}

/// Ends a pending payment (`failed`, with why) and gives back its share of
/// the daily limit. False when it was no longer pending.
pub(super) async fn fail_in(
    conn: &mut AnyConnection,
    payment_id: &str,
    reason: &str,
) -> Result<bool, WalletError> {
    let Some(p) = store::fail_payment(&mut *conn, payment_id, reason, now_ms()).await? else {
        return Ok(false);
    };
    store::give_back_allowance(
        conn,
        &p.user_id,
        &p.currency,
        day_of(p.created_at),
        p.amount,
    )
    .await?;
    Ok(true)
}

pub(super) struct Settled {
    pub(super) transfer_id: String,
    pub(super) balance: i64,
    pub(super) user_id: String,
    pub(super) notification: notifications::Notification,
}

/// Credits a payment to its owner's wallet exactly once. Each step is a
/// conditional update, so a second settlement (a webhook delivered twice, a
/// race with a retry) finds nothing to do. A payment that had already
/// `failed` here (canceled, expired) is still credited when the provider
/// says the money came: the fan was charged. Its daily allowance, given back
/// when it failed, is taken again without a limit check (the money is in).
pub(super) async fn settle_in(
    conn: &mut AnyConnection,
    payment_id: &str,
    provider_ref: Option<&str>,
    idempotency_key: Option<&str>,
) -> Result<Option<Settled>, WalletError> {
    let mut row = None;
    let mut revived = false;
    for from in [PaymentStatus::Pending, PaymentStatus::Failed] {
        row = store::succeed_payment(&mut *conn, payment_id, provider_ref, from, now_ms()).await?;
        if row.is_some() {
            revived = from == PaymentStatus::Failed;
            break;
        }
    }
    let Some(row) = row else {
        return Ok(None);
    };
    let (user_id, provider, amount) = (row.user_id, row.provider, row.amount);
    let currency = Currency::stored(&row.currency)?;
    if revived {
        tracing::warn!(payment = %payment_id, "provider confirmed a payment that had failed here: crediting it");
        store::use_allowance(
            conn,
            &user_id,
            currency.code(),
            day_of(row.created_at),
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
    store::link_operation(&mut *conn, payment_id, &posted.operation_id).await?;
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
