//! Topping up an eSIM: paid like a purchase, applied by the supplier, refunded
//! when it fails. The outcome is recorded with the key in the transaction that
//! settles it; a `pending` top-up left by a crash is settled by a retry with
//! the same key or by the sweep.

use sqlx::AnyConnection;

use crate::db::{new_id, now_ms};
use crate::domain::{Invalid, UserId};
use crate::esim::Esims;
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::esim::provider::SupplierError;
use crate::esim::purchase::SupplierPayment;
use crate::esim::store::{self, NewTopup, esim_with};
use crate::replay::Replay;
use crate::wallet::ChargeError;
use crate::wallet::ledger::{self, AccountKind};
use crate::wallet::money::{Currency, format_minor};

fn topup_failed(balance: i64, currency: Currency) -> EsimError {
    EsimError::TopupFailed {
        new_balance: format_minor(balance, currency),
    }
}

impl Esims {
    /// Adds a compatible plan's data and days to an eSIM, paid like a purchase.
    pub async fn topup(
        &self,
        user_id: &UserId,
        id: &str,
        plan_id: &str,
        replay: &Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, EsimError> {
        let provider = self.supplier()?;
        let current = self.esim(user_id, id).await?;
        let (plan, price) = self.load_plan(plan_id).await?;
        if !plan.region.eq_ignore_ascii_case(&current.plan.region) {
            return Err(Invalid::field(
                "planId",
                "incompatible_plan",
                format!("top-ups must be {} plans", current.plan.region),
            )
            .into());
        }
        if !matches!(
            current.status,
            EsimStatus::Ready | EsimStatus::Active | EsimStatus::Depleted
        ) {
            return Err(EsimError::NotTopupable(format!(
                "a {} eSIM cannot be topped up",
                current.status
            )));
        }
        let iccid = current
            .iccid
            .clone()
            .ok_or_else(|| EsimError::NotTopupable("no profile yet".into()))?;
        let currency = Currency::stored(&plan.currency)?;
        let topup_id = new_id();
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let charged = SupplierPayment {
            user_id,
            supplier: provider.name(),
            amount: price,
            currency,
            operation: "esim_topup",
            esim_id: id,
            idempotency_key: replay.key().map(|k| k.key.as_str()),
        }
        .pay(tx.conn())
        .await;
        let operation = match charged {
            Ok(c) => c.operation_id,
            Err(ChargeError::AlreadyPosted) if replay.key().is_some() => {
                drop(tx);
                return self.resume_topup(user_id, replay).await;
            }
            Err(e) => return Err(e.into()),
        };
        // The status read above may be stale: the statement decides, in the
        // transaction of the charge (returning drops it: nothing is charged).
        if !store::still_topupable(tx.conn(), id, now).await? {
            return Err(EsimError::NotTopupable(
                "this eSIM has expired and cannot be topped up".into(),
            ));
        }
        store::insert_topup(
            tx.conn(),
            NewTopup {
                id: &topup_id,
                esim_id: id,
                user_id,
                plan_id: &plan.id,
                provider: provider.name(),
                price,
                currency: currency.code(),
                operation_id: &operation,
                now,
            },
        )
        .await?;
        tx.commit().await?;
        // As for purchases: a cancelled request must not leave a charge without
        // either the top-up or its refund.
        let task = tokio::spawn(self.clone().finish_topup(
            user_id.to_string(),
            topup_id,
            iccid,
            plan,
            replay.clone(),
        ));
        task.await
            .map_err(|e| EsimError::Internal(format!("top-up task: {e}")))?
    }

    async fn finish_topup(
        self,
        user_id: String,
        topup_id: String,
        iccid: String,
        plan: Plan,
        replay: Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, EsimError> {
        let provider = self.supplier()?;
        let done = tokio::time::timeout(
            self.provider_timeout,
            provider.top_up(&iccid, plan.data_mb, plan.validity_days),
        )
        .await
        .unwrap_or(Err(SupplierError::Timeout));
        if let Err(err) = done {
            tracing::warn!(topup = %topup_id, error = %err, "eSIM top-up failed; refunding");
            return match self.fail_topup(&topup_id, Some(&replay)).await? {
                Some(refusal) => Err(refusal),
                None => self.topup_answer(&user_id, &topup_id, &replay).await,
            };
        }
        let mut tx = self.db.begin_write().await?;
        let Some(esim_id) = store::apply_topup(tx.conn(), &topup_id, now_ms()).await? else {
            drop(tx);
            return self.topup_answer(&user_id, &topup_id, &replay).await;
        };
        store::extend(
            tx.conn(),
            &esim_id,
            plan.data_mb,
            plan.validity_days,
            now_ms(),
        )
        .await?;
        let resp = topped_up(tx.conn(), &user_id, &esim_id, &replay).await?;
        tx.commit().await?;
        Ok(resp)
    }

    /// Marks a pending top-up failed and refunds it, at most once, recording
    /// the refusal as the key's answer. None when it was no longer pending.
    pub(super) async fn fail_topup(
        &self,
        topup_id: &str,
        replay: Option<&Replay<PurchaseResponse>>,
    ) -> Result<Option<EsimError>, EsimError> {
        let mut tx = self.db.begin_write().await?;
        let Some(sale) = store::fail_topup(tx.conn(), topup_id, now_ms()).await? else {
            return Ok(None);
        };
        let currency = Currency::stored(&sale.currency)?;
        let refunded = SupplierPayment {
            user_id: &UserId::from(sale.user_id.as_str()),
            supplier: &sale.provider,
            amount: sale.price,
            currency,
            operation: "esim_refund",
            esim_id: &sale.esim_id,
            idempotency_key: None,
        }
        .refund(tx.conn())
        .await?;
        if let Some(replay) = replay {
            replay
                .refusal(tx.conn(), topup_failed(refunded.balance, currency))
                .await?;
        }
        tx.commit().await?;
        Ok(Some(topup_failed(refunded.balance, currency)))
    }

    async fn resume_topup(
        &self,
        user_id: &str,
        replay: &Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, EsimError> {
        let id = self.paid_with_key(replay, true).await?;
        self.topup_answer(user_id, &id, replay).await
    }

    /// The answer a top-up has now (as a purchase's, see `answer_for`).
    async fn topup_answer(
        &self,
        user_id: &str,
        topup_id: &str,
        replay: &Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, EsimError> {
        let row = store::topup(self.db.reader(), topup_id).await?;
        let status = TopupStatus::stored(&row.status)?;
        let esim_id = row.esim_id;
        match status {
            TopupStatus::Pending => {
                let age = now_ms() - row.created_at;
                if age < self.orphaned_after().as_millis() as i64 {
                    return Err(EsimError::InFlight);
                }
                match self.fail_topup(topup_id, Some(replay)).await? {
                    Some(refusal) => Err(refusal),
                    None => Box::pin(self.topup_answer(user_id, topup_id, replay)).await,
                }
            }
            TopupStatus::Failed => {
                let currency = Currency::stored(&row.currency)?;
                let balance =
                    ledger::balance_of(self.db.reader(), AccountKind::User, user_id, currency)
                        .await?;
                let mut tx = self.db.begin_write().await?;
                replay
                    .refusal(tx.conn(), topup_failed(balance, currency))
                    .await?;
                tx.commit().await?;
                Err(topup_failed(balance, currency))
            }
            TopupStatus::Applied => {
                let mut tx = self.db.begin_write().await?;
                let resp = topped_up(tx.conn(), user_id, &esim_id, replay).await?;
                tx.commit().await?;
                Ok(resp)
            }
        }
    }
}

/// The answer of an applied top-up: the eSIM as it is now.
async fn topped_up(
    conn: &mut AnyConnection,
    user_id: &str,
    esim_id: &str,
    replay: &Replay<PurchaseResponse>,
) -> Result<PurchaseResponse, EsimError> {
    let e = esim_with(conn, user_id, esim_id).await?;
    let currency = Currency::stored(&e.currency)?;
    let balance = ledger::balance_of(&mut *conn, AccountKind::User, user_id, currency).await?;
    let resp = PurchaseResponse {
        esim: e,
        new_balance: format_minor(balance, currency),
        currency: currency.code().to_owned(),
    };
    replay.success(conn, &resp).await?;
    Ok(resp)
}
