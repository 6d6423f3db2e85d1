//! Buying eSIMs: money first (a committed debit), then the supplier outside
//! any database transaction with a timeout; if it fails the fan is refunded
//! through the ledger. The answer is recorded with the key in the
//! transaction that settles the outcome (profile ready, or refund), so a
//! retry replays it. A crash between charge and supplier leaves a
//! `provisioning` eSIM that a retry with the same key, or the periodic sweep,
//! settles once it is clearly orphaned.

use crate::db::{new_id, now_ms};
use crate::domain::UserId;
use crate::esim::Esims;
use crate::esim::error::EsimError;
use crate::esim::model::*;
use crate::esim::provider::{ProfileOrder, SupplierError};
use crate::esim::store::{self, DAY_MS, NewEsim, ReadyProfile, esim_with};
use crate::replay::Replay;
use crate::wallet::ChargeError;
use crate::wallet::ledger::{self, AccountKind};
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::sales::{self, Charge, ChargeLine, Charged, Payee};

/// One payment between a fan and the eSIM supplier, either way.
pub(super) struct SupplierPayment<'a> {
    pub user_id: &'a UserId,
    pub supplier: &'a str,
    pub amount: i64,
    pub currency: Currency,
    /// Ledger operation kind.
    pub operation: &'static str,
    pub esim_id: &'a str,
    pub idempotency_key: Option<&'a str>,
}

impl SupplierPayment<'_> {
    fn charge(&self) -> Charge<'_> {
        Charge {
            buyer: self.user_id,
            currency: self.currency,
            operation: self.operation,
            kind: "esim",
            idempotency_key: self.idempotency_key,
            lines: vec![ChargeLine {
                payee: Payee::EsimSupplier(self.supplier),
                amount: self.amount,
                reference: ("esim", self.esim_id.to_owned()),
            }],
            metadata: None,
        }
    }

    /// The fan pays the supplier.
    pub async fn pay(&self, conn: &mut sqlx::AnyConnection) -> Result<Charged, ChargeError> {
        sales::charge(conn, self.charge()).await
    }

    /// The supplier's share goes back to the fan.
    pub async fn refund(&self, conn: &mut sqlx::AnyConnection) -> Result<Charged, ChargeError> {
        sales::refund(conn, self.charge()).await
    }
}

fn provisioning_failed(esim_id: &str, balance: i64, currency: Currency) -> EsimError {
    EsimError::ProvisioningFailed {
        esim_id: esim_id.to_owned(),
        new_balance: format_minor(balance, currency),
    }
}

impl Esims {
    pub(super) fn supplier(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::esim::provider::EsimProvider>, EsimError> {
        self.provider.clone().ok_or(EsimError::SalesOff)
    }

    pub async fn activate(
        &self,
        user_id: &UserId,
        plan_id: &str,
        replay: &Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, EsimError> {
        let provider = self.supplier()?;
        let (plan, price) = self.load_plan(plan_id).await?;
        let currency = Currency::stored(&plan.currency)?;
        let id = new_id();
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        store::insert_provisioning(
            tx.conn(),
            NewEsim {
                id: &id,
                user_id,
                plan: &plan,
                provider: provider.name(),
                price,
                currency: currency.code(),
                now,
            },
        )
        .await?;
        let charged = SupplierPayment {
            user_id,
            supplier: provider.name(),
            amount: price,
            currency,
            operation: "esim_purchase",
            esim_id: &id,
            idempotency_key: replay.key().map(|k| k.key.as_str()),
        }
        .pay(tx.conn())
        .await;
        let balance = match charged {
            Ok(c) => c.balance,
            // This key already paid for an eSIM whose answer was never stored
            // (the process died before the outcome): settle and answer that one.
            Err(ChargeError::AlreadyPosted) if replay.key().is_some() => {
                drop(tx);
                return self.resume_purchase(user_id, replay).await;
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;

        // The supplier call and its compensation run in their own task: if the
        // request is cancelled (client gone, request timeout), the fan is still
        // either provisioned or refunded.
        let task = tokio::spawn(self.clone().provision(
            user_id.to_string(),
            id,
            plan,
            balance,
            replay.clone(),
        ));
        task.await
            .map_err(|e| EsimError::Internal(format!("provisioning task: {e}")))?
    }

    async fn provision(
        self,
        user_id: String,
        id: String,
        plan: Plan,
        balance: i64,
        replay: Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, EsimError> {
        let provider = self.supplier()?;
        let currency = Currency::stored(&plan.currency)?;
        let now = now_ms();
        let order = provider.order_profile(ProfileOrder {
            esim_id: &id,
            plan_id: &plan.id,
            data_mb: plan.data_mb,
            validity_days: plan.validity_days,
        });
        let outcome = match tokio::time::timeout(self.provider_timeout, order).await {
            Ok(r) => r,
            Err(_) => Err(SupplierError::Timeout),
        };
        let profile = match outcome {
            Ok(profile) => profile,
            Err(err) => {
                tracing::warn!(esim = %id, error = %err, "eSIM provisioning failed; refunding");
                return match self.fail_and_refund(&id, Some(&replay)).await? {
                    Some(refusal) => Err(refusal),
                    // Settled meanwhile (the sweep): that outcome is the answer.
                    None => self.answer_for(&user_id, &id, &replay).await,
                };
            }
        };
        let expires =
            (plan.validity_starts == "purchase").then_some(now + plan.validity_days * DAY_MS);
        let mut tx = self.db.begin_write().await?;
        let ready = store::mark_ready(
            tx.conn(),
            &id,
            ReadyProfile {
                iccid: &profile.iccid,
                matching_id: &profile.matching_id,
                smdp_address: &profile.smdp_address,
                activation_code: &profile.activation_code,
                expires_at: expires,
            },
            now_ms(),
        )
        .await?;
        if !ready {
            // The sweep refunded it first (a supplier slower than the timeout
            // allows): the refund's answer stands.
            drop(tx);
            return self.answer_for(&user_id, &id, &replay).await;
        }
        let resp = PurchaseResponse {
            esim: esim_with(tx.conn(), &user_id, &id).await?,
            new_balance: format_minor(balance, currency),
            currency: currency.code().to_owned(),
        };
        replay.success(tx.conn(), &resp).await?;
        tx.commit().await?;
        Ok(resp)
    }

    /// What a key already paid for (a purchase's eSIM, a top-up), found through
    /// the ledger operation the key is bound to: a retry of a charge that
    /// committed without its answer settles and answers that one.
    pub(super) async fn paid_with_key<T: serde::Serialize>(
        &self,
        replay: &Replay<T>,
        topup: bool,
    ) -> Result<String, EsimError> {
        let key = replay.key().ok_or(EsimError::KeyUsedElsewhere)?;
        store::paid_with_key(self.db.reader(), replay.user(), &key.key, topup)
            .await?
            .ok_or(EsimError::KeyUsedElsewhere)
    }

    async fn resume_purchase(
        &self,
        user_id: &str,
        replay: &Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, EsimError> {
        let id = self.paid_with_key(replay, false).await?;
        self.answer_for(user_id, &id, replay).await
    }

    /// The answer a purchase has now: its eSIM when provisioned, the refund
    /// when it failed; one still provisioning is refunded once orphaned, else
    /// "in flight".
    async fn answer_for(
        &self,
        user_id: &str,
        id: &str,
        replay: &Replay<PurchaseResponse>,
    ) -> Result<PurchaseResponse, EsimError> {
        let current = self.esim(user_id, id).await?;
        let currency = Currency::stored(&current.currency)?;
        let balance = || async {
            ledger::balance_of(self.db.reader(), AccountKind::User, user_id, currency).await
        };
        match current.status {
            EsimStatus::Provisioning => {
                let age = now_ms() - store::esim_created_at(self.db.reader(), id).await?;
                if age < self.orphaned_after().as_millis() as i64 {
                    return Err(EsimError::InFlight);
                }
                match self.fail_and_refund(id, Some(replay)).await? {
                    Some(refusal) => Err(refusal),
                    None => Box::pin(self.answer_for(user_id, id, replay)).await,
                }
            }
            EsimStatus::Failed => {
                let balance = balance().await?;
                let mut tx = self.db.begin_write().await?;
                replay
                    .refusal(tx.conn(), provisioning_failed(id, balance, currency))
                    .await?;
                tx.commit().await?;
                Err(provisioning_failed(id, balance, currency))
            }
            _ => {
                let mut tx = self.db.begin_write().await?;
                let resp = PurchaseResponse {
                    esim: current,
                    new_balance: format_minor(balance().await?, currency),
                    currency: currency.code().to_owned(),
                };
                replay.success(tx.conn(), &resp).await?;
                tx.commit().await?;
                Ok(resp)
            }
        }
    }

    /// Marks a `provisioning` eSIM failed and refunds its price through the
    /// ledger, at most once (conditional update), recording the refusal as
    /// the key's answer. None when it was no longer provisioning.
    async fn fail_and_refund(
        &self,
        esim_id: &str,
        replay: Option<&Replay<PurchaseResponse>>,
    ) -> Result<Option<EsimError>, EsimError> {
        let mut tx = self.db.begin_write().await?;
        let Some(sale) = store::fail_provisioning(tx.conn(), esim_id, now_ms()).await? else {
            return Ok(None);
        };
        let currency = Currency::stored(&sale.currency)?;
        let refunded = SupplierPayment {
            user_id: &UserId::from(sale.user_id.as_str()),
            supplier: &sale.provider,
            amount: sale.price,
            currency,
            operation: "esim_refund",
            esim_id,
            idempotency_key: None,
        }
        .refund(tx.conn())
        .await?;
        if let Some(replay) = replay {
            replay
                .refusal(
                    tx.conn(),
                    provisioning_failed(esim_id, refunded.balance, currency),
                )
                .await?;
        }
        tx.commit().await?;
        Ok(Some(provisioning_failed(
            esim_id,
            refunded.balance,
            currency,
        )))
    }

    /// Refunds purchases and top-ups left unsettled longer than `older_than`:
    /// the process died between taking the money and hearing from the supplier.
    pub async fn refund_orphans(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, EsimError> {
        let cutoff = now_ms() - older_than.as_millis() as i64;
        let mut refunded = 0;
        for id in store::unsettled(self.db.reader(), false, cutoff).await? {
            if self.fail_and_refund(&id, None).await?.is_some() {
                tracing::warn!(esim = %id, "stuck eSIM purchase refunded");
                refunded += 1;
            }
        }
        for id in store::unsettled(self.db.reader(), true, cutoff).await? {
            if self.fail_topup(&id, None).await?.is_some() {
                tracing::warn!(topup = %id, "stuck eSIM top-up refunded");
                refunded += 1;
            }
        }
        Ok(refunded)
    }
}
