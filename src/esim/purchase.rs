//! Buying and topping up eSIMs: money first (a committed debit), then the
//! supplier outside any database transaction with a timeout; if it fails the
//! fan is refunded through the ledger. The answer is stored with the key in
//! the transaction that settles the outcome (profile ready, top-up applied,
//! or refund), so a retry replays it. A crash between charge and supplier
//! leaves a `provisioning` eSIM or a `pending` top-up that a retry with the
//! same key, or the periodic sweep, settles once it is clearly orphaned.

use axum::http::StatusCode;
use sqlx::{AnyConnection, Row};

use crate::app::AppState;
use crate::config::Config;
use crate::db::{new_id, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::esim::model::*;
use crate::esim::provider::{EsimError, ProfileOrder};
use crate::esim::service::{currency_of, esim, esim_with, load_plan, supplier};
use crate::http::idempotency::{ANSWERED, Answer, IN_FLIGHT, IdempotencyKey};
use crate::wallet::ledger::{self, AccountKind, Operation, Posting};
use crate::wallet::money::{Currency, format_minor};
use crate::wallet::service::ledger_error;

const DAY_MS: i64 = 86_400_000;

/// A purchase or top-up still unsettled after this long has no process
/// working on it: the supplier call is bounded by its timeout, and it runs
/// in a task of its own that outlives the request; what follows it is one
/// short transaction.
pub fn orphaned_after(config: &Config) -> std::time::Duration {
    config.esim_provider_timeout + std::time::Duration::from_secs(5)
}

/// One payment between a fan and the eSIM supplier, either way.
struct Charge<'a> {
    user_id: &'a str,
    supplier: &'a str,
    amount: i64,
    currency: Currency,
    /// Ledger operation kind.
    kind: &'static str,
    esim_id: &'a str,
    idempotency_key: Option<&'a str>,
    refund: bool,
}

/// Posts the charge; returns the fan's balance after it and the operation.
async fn pay(conn: &mut AnyConnection, c: Charge<'_>) -> ApiResult<(i64, String)> {
    let wallet = ledger::account_id(conn, AccountKind::User, c.user_id, c.currency).await?;
    let supplier =
        ledger::account_id(conn, AccountKind::EsimSupplier, c.supplier, c.currency).await?;
    let (debit, credit) = if c.refund {
        (supplier, wallet.clone())
    } else {
        (wallet.clone(), supplier)
    };
    let posted = ledger::post(
        conn,
        Operation {
            kind: c.kind,
            user_id: Some(c.user_id),
            idempotency_key: c.idempotency_key,
        },
        vec![Posting {
            debit,
            credit,
            amount: c.amount,
            currency: c.currency,
            kind: if c.refund { "refund" } else { "esim" },
            reference: Some(("esim", c.esim_id.to_owned())),
            note: None,
            metadata: None,
        }],
    )
    .await
    .map_err(|e| ledger_error(e, c.currency))?;
    Ok((posted.balances[&wallet], posted.operation_id))
}

fn is_answered(e: &ApiError) -> bool {
    e.status() == StatusCode::CONFLICT && e.code() == ANSWERED
}

fn still_running() -> ApiError {
    ApiError::conflict(
        IN_FLIGHT,
        "this purchase is still with the eSIM supplier; retry shortly",
    )
}

pub async fn activate(
    state: &AppState,
    user_id: &str,
    plan_id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let provider = supplier(state)?;
    let (plan, price) = load_plan(state, plan_id).await?;
    let currency = currency_of(&plan.currency);
    let id = new_id();
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO esims (id, user_id, plan_id, provider, status, data_total_mb, data_used_mb, validity_days,
                            validity_starts, price, currency, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'provisioning', $5, 0, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(&plan.id)
    .bind(provider.name())
    .bind(plan.data_mb)
    .bind(plan.validity_days)
    .bind(&plan.validity_starts)
    .bind(price)
    .bind(currency.code())
    .bind(now)
    .execute(tx.conn())
    .await?;
    let charged = pay(
        tx.conn(),
        Charge {
            user_id,
            supplier: provider.name(),
            amount: price,
            currency,
            kind: "esim_purchase",
            esim_id: &id,
            idempotency_key: key.map(|k| k.0.as_str()),
            refund: false,
        },
    )
    .await;
    let balance = match (charged, key) {
        (Ok((balance, _)), _) => balance,
        // This key already paid for an eSIM whose answer was never stored
        // (the process died before the outcome): settle and answer that one.
        (Err(e), Some(key)) if is_answered(&e) => {
            drop(tx);
            return resume_purchase(state, user_id, key).await;
        }
        (Err(e), _) => return Err(e),
    };
    tx.commit().await?;

    // The supplier call and its compensation run in their own task: if the
    // request is cancelled (client gone, request timeout), the fan is still
    // either provisioned or refunded.
    let task = tokio::spawn(provision(
        state.clone(),
        user_id.to_owned(),
        id,
        plan,
        balance,
        key.cloned(),
    ));
    task.await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("provisioning task: {e}")))?
}

async fn provision(
    state: AppState,
    user_id: String,
    id: String,
    plan: Plan,
    balance: i64,
    key: Option<IdempotencyKey>,
) -> ApiResult<Answer> {
    let provider = supplier(&state)?;
    let currency = currency_of(&plan.currency);
    let now = now_ms();
    let order = provider.order_profile(ProfileOrder {
        esim_id: &id,
        plan_id: &plan.id,
        data_mb: plan.data_mb,
        validity_days: plan.validity_days,
    });
    let outcome = match tokio::time::timeout(state.config.esim_provider_timeout, order).await {
        Ok(r) => r,
        Err(_) => Err(EsimError::Timeout),
    };
    let profile = match outcome {
        Ok(profile) => profile,
        Err(err) => {
            tracing::warn!(esim = %id, error = %err, "eSIM provisioning failed; refunding");
            return match fail_and_refund(&state, &id, key.as_ref()).await? {
                Some(answer) => Ok(answer),
                // Settled meanwhile (the sweep): that outcome is the answer.
                None => answer_for(&state, &user_id, &id, key.as_ref()).await,
            };
        }
    };
    let expires = (plan.validity_starts == "purchase").then_some(now + plan.validity_days * DAY_MS);
    let mut tx = state.db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE esims SET status = 'ready', iccid = $2, matching_id = $3, smdp_address = $4,
                activation_code = $5, expires_at = $6, updated_at = $7
         WHERE id = $1 AND status = 'provisioning'",
    )
    .bind(&id)
    .bind(&profile.iccid)
    .bind(&profile.matching_id)
    .bind(&profile.smdp_address)
    .bind(&profile.activation_code)
    .bind(expires)
    .bind(now_ms())
    .execute(tx.conn())
    .await?
    .rows_affected();
    if updated == 0 {
        // The sweep refunded it first (a supplier slower than the timeout
        // allows): the refund's answer stands.
        drop(tx);
        return answer_for(&state, &user_id, &id, key.as_ref()).await;
    }
    let resp = PurchaseResponse {
        esim: esim_with(tx.conn(), &user_id, &id).await?,
        new_balance: format_minor(balance, currency),
        currency: currency.code().to_owned(),
    };
    let answer = Answer::store(
        tx.conn(),
        &user_id,
        key.as_ref(),
        StatusCode::CREATED,
        &resp,
    )
    .await?;
    tx.commit().await?;
    Ok(answer)
}

/// What a key already paid for (a purchase's eSIM, a top-up), found through
/// the ledger operation the key is bound to: a retry of a charge that
/// committed without its answer settles and answers that one.
async fn paid_with_key(
    state: &AppState,
    user_id: &str,
    key: &IdempotencyKey,
    sql: &'static str,
) -> ApiResult<String> {
    let row = sqlx::query(sql)
        .bind(user_id)
        .bind(&key.0)
        .fetch_optional(state.db.reader())
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                ANSWERED,
                "this Idempotency-Key was used for another operation",
            )
        })?;
    Ok(row.try_get("id")?)
}

async fn resume_purchase(
    state: &AppState,
    user_id: &str,
    key: &IdempotencyKey,
) -> ApiResult<Answer> {
    let id = paid_with_key(
        state,
        user_id,
        key,
        "SELECT t.reference_id AS id FROM ledger_operations o JOIN transfers t ON t.operation_id = o.id
         WHERE o.user_id = $1 AND o.idempotency_key = $2 AND o.kind = 'esim_purchase'
           AND t.reference_type = 'esim'",
    )
    .await?;
    answer_for(state, user_id, &id, Some(key)).await
}

/// The answer a purchase has now: its eSIM when provisioned, the refund when
/// it failed; one still provisioning is refunded once orphaned, else "in flight".
async fn answer_for(
    state: &AppState,
    user_id: &str,
    id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let current = esim(state, user_id, id).await?;
    let currency = currency_of(&current.currency);
    let balance = || async {
        ledger::balance_of(state.db.reader(), AccountKind::User, user_id, currency).await
    };
    match current.status.as_str() {
        "provisioning" => {
            let row = sqlx::query("SELECT created_at FROM esims WHERE id = $1")
                .bind(id)
                .fetch_one(state.db.reader())
                .await?;
            let age = now_ms() - row.try_get::<i64, _>("created_at")?;
            if age < orphaned_after(&state.config).as_millis() as i64 {
                return Err(still_running());
            }
            match fail_and_refund(state, id, key).await? {
                Some(answer) => Ok(answer),
                None => Box::pin(answer_for(state, user_id, id, key)).await,
            }
        }
        "failed" => {
            let mut tx = state.db.begin_write().await?;
            let answer = Answer::store_problem(
                tx.conn(),
                user_id,
                key,
                refunded(id, balance().await?, currency),
            )
            .await?;
            tx.commit().await?;
            Ok(answer)
        }
        _ => {
            let mut tx = state.db.begin_write().await?;
            let resp = PurchaseResponse {
                esim: current,
                new_balance: format_minor(balance().await?, currency),
                currency: currency.code().to_owned(),
            };
            let answer = Answer::store(tx.conn(), user_id, key, StatusCode::CREATED, &resp).await?;
            tx.commit().await?;
            Ok(answer)
        }
    }
}

fn refunded(id: &str, balance: i64, currency: Currency) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "esim_provisioning_failed",
        "the eSIM supplier could not provide a profile; your payment was refunded",
    )
    .with("esimId", id.to_owned())
    .with("newBalance", format_minor(balance, currency))
}

/// Marks a `provisioning` eSIM failed and refunds its price through the
/// ledger, at most once (conditional update), storing the refusal as the
/// key's answer. None when it was no longer provisioning.
async fn fail_and_refund(
    state: &AppState,
    esim_id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Option<Answer>> {
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query(
        "UPDATE esims SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'provisioning'
         RETURNING user_id, provider, price, currency",
    )
    .bind(esim_id)
    .bind(now_ms())
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user_id: String = row.try_get("user_id")?;
    let provider: String = row.try_get("provider")?;
    let currency = currency_of(&row.try_get::<String, _>("currency")?);
    let (balance, _) = pay(
        tx.conn(),
        Charge {
            user_id: &user_id,
            supplier: &provider,
            amount: row.try_get("price")?,
            currency,
            kind: "esim_refund",
            esim_id,
            idempotency_key: None,
            refund: true,
        },
    )
    .await?;
    let answer = Answer::store_problem(
        tx.conn(),
        &user_id,
        key,
        refunded(esim_id, balance, currency),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(answer))
}

/// Refunds purchases and top-ups left unsettled longer than `older_than`:
/// the process died between taking the money and hearing from the supplier.
pub async fn refund_orphans(state: &AppState, older_than: std::time::Duration) -> ApiResult<usize> {
    let cutoff = now_ms() - older_than.as_millis() as i64;
    let mut refunded = 0;
    let purchases =
        sqlx::query("SELECT id FROM esims WHERE status = 'provisioning' AND created_at <= $1")
            .bind(cutoff)
            .fetch_all(state.db.reader())
            .await?;
    for r in purchases {
        let id: String = r.try_get("id")?;
        if fail_and_refund(state, &id, None).await?.is_some() {
            tracing::warn!(esim = %id, "stuck eSIM purchase refunded");
            refunded += 1;
        }
    }
    let topups =
        sqlx::query("SELECT id FROM esim_topups WHERE status = 'pending' AND created_at <= $1")
            .bind(cutoff)
            .fetch_all(state.db.reader())
            .await?;
    for r in topups {
        let id: String = r.try_get("id")?;
        if fail_topup(state, &id, None).await?.is_some() {
            tracing::warn!(topup = %id, "stuck eSIM top-up refunded");
            refunded += 1;
        }
    }
    Ok(refunded)
}

/// Adds a compatible plan's data and days to an eSIM, paid like a purchase.
pub async fn topup(
    state: &AppState,
    user_id: &str,
    id: &str,
    plan_id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let provider = supplier(state)?;
    let current = esim(state, user_id, id).await?;
    let (plan, price) = load_plan(state, plan_id).await?;
    if !plan.region.eq_ignore_ascii_case(&current.plan.region) {
        return Err(ApiError::field(
            "planId",
            "incompatible_plan",
            format!("top-ups must be {} plans", current.plan.region),
        ));
    }
    if !matches!(current.status.as_str(), "ready" | "active" | "depleted") {
        return Err(ApiError::conflict(
            "not_topupable",
            format!("a {} eSIM cannot be topped up", current.status),
        ));
    }
    let iccid = current
        .iccid
        .clone()
        .ok_or_else(|| ApiError::conflict("not_topupable", "no profile yet"))?;
    let currency = currency_of(&plan.currency);
    let topup_id = new_id();
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let charged = pay(
        tx.conn(),
        Charge {
            user_id,
            supplier: provider.name(),
            amount: price,
            currency,
            kind: "esim_topup",
            esim_id: id,
            idempotency_key: key.map(|k| k.0.as_str()),
            refund: false,
        },
    )
    .await;
    let operation = match (charged, key) {
        (Ok((_, operation)), _) => operation,
        (Err(e), Some(key)) if is_answered(&e) => {
            drop(tx);
            return resume_topup(state, user_id, key).await;
        }
        (Err(e), _) => return Err(e),
    };
    sqlx::query(
        "INSERT INTO esim_topups (id, esim_id, user_id, plan_id, provider, price, currency, operation_id, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)",
    )
    .bind(&topup_id)
    .bind(id)
    .bind(user_id)
    .bind(&plan.id)
    .bind(provider.name())
    .bind(price)
    .bind(currency.code())
    .bind(&operation)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    // As for purchases: a cancelled request must not leave a charge without
    // either the top-up or its refund.
    let task = tokio::spawn(finish_topup(
        state.clone(),
        user_id.to_owned(),
        topup_id,
        iccid,
        plan,
        key.cloned(),
    ));
    task.await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("top-up task: {e}")))?
}

async fn finish_topup(
    state: AppState,
    user_id: String,
    topup_id: String,
    iccid: String,
    plan: Plan,
    key: Option<IdempotencyKey>,
) -> ApiResult<Answer> {
    let provider = supplier(&state)?;
    let done = tokio::time::timeout(
        state.config.esim_provider_timeout,
        provider.top_up(&iccid, plan.data_mb, plan.validity_days),
    )
    .await
    .unwrap_or(Err(EsimError::Timeout));
    if let Err(err) = done {
        tracing::warn!(topup = %topup_id, error = %err, "eSIM top-up failed; refunding");
        return match fail_topup(&state, &topup_id, key.as_ref()).await? {
            Some(answer) => Ok(answer),
            None => topup_answer(&state, &user_id, &topup_id, key.as_ref()).await,
        };
    }
    let mut tx = state.db.begin_write().await?;
    let applied = sqlx::query(
        "UPDATE esim_topups SET status = 'applied', updated_at = $2 WHERE id = $1 AND status = 'pending'
         RETURNING esim_id",
    )
    .bind(&topup_id)
    .bind(now_ms())
    .fetch_optional(tx.conn())
    .await?;
    let Some(applied) = applied else {
        drop(tx);
        return topup_answer(&state, &user_id, &topup_id, key.as_ref()).await;
    };
    let esim_id: String = applied.try_get("esim_id")?;
    // Unlimited stays unlimited; days extend the current expiry (if running).
    sqlx::query(
        "UPDATE esims SET data_total_mb = CASE WHEN data_total_mb IS NULL OR $2 IS NULL THEN NULL ELSE data_total_mb + $2 END,
                validity_days = validity_days + $3,
                expires_at = CASE WHEN expires_at IS NULL THEN NULL ELSE expires_at + $4 END,
                status = CASE WHEN status = 'depleted' THEN 'active' ELSE status END,
                notified_80 = 0, notified_100 = 0, updated_at = $5
         WHERE id = $1",
    )
    .bind(&esim_id)
    .bind(plan.data_mb)
    .bind(plan.validity_days)
    .bind(plan.validity_days * DAY_MS)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    let answer = topped_up(tx.conn(), &user_id, &esim_id, key.as_ref()).await?;
    tx.commit().await?;
    Ok(answer)
}

/// The answer of an applied top-up: the eSIM as it is now.
async fn topped_up(
    conn: &mut AnyConnection,
    user_id: &str,
    esim_id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let e = esim_with(conn, user_id, esim_id).await?;
    let currency = currency_of(&e.currency);
    let balance = ledger::balance_of(&mut *conn, AccountKind::User, user_id, currency).await?;
    let resp = PurchaseResponse {
        esim: e,
        new_balance: format_minor(balance, currency),
        currency: currency.code().to_owned(),
    };
    Answer::store(conn, user_id, key, StatusCode::OK, &resp).await
}

fn topup_refunded(balance: i64, currency: Currency) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "esim_topup_failed",
        "the eSIM supplier could not top up; your payment was refunded",
    )
    .with("newBalance", format_minor(balance, currency))
}

/// Marks a pending top-up failed and refunds it, at most once. None when it
/// was no longer pending.
async fn fail_topup(
    state: &AppState,
    topup_id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Option<Answer>> {
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query(
        "UPDATE esim_topups SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'pending'
         RETURNING esim_id, user_id, provider, price, currency",
    )
    .bind(topup_id)
    .bind(now_ms())
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user_id: String = row.try_get("user_id")?;
    let esim_id: String = row.try_get("esim_id")?;
    let currency = currency_of(&row.try_get::<String, _>("currency")?);
    let (balance, _) = pay(
        tx.conn(),
        Charge {
            user_id: &user_id,
            supplier: &row.try_get::<String, _>("provider")?,
            amount: row.try_get("price")?,
            currency,
            kind: "esim_refund",
            esim_id: &esim_id,
            idempotency_key: None,
            refund: true,
        },
    )
    .await?;
    let answer =
        Answer::store_problem(tx.conn(), &user_id, key, topup_refunded(balance, currency)).await?;
    tx.commit().await?;
    Ok(Some(answer))
}

async fn resume_topup(state: &AppState, user_id: &str, key: &IdempotencyKey) -> ApiResult<Answer> {
    let id = paid_with_key(
        state,
        user_id,
        key,
        "SELECT tu.id FROM ledger_operations o JOIN esim_topups tu ON tu.operation_id = o.id
         WHERE o.user_id = $1 AND o.idempotency_key = $2",
    )
    .await?;
    topup_answer(state, user_id, &id, Some(key)).await
}

/// The answer a top-up has now (see [`answer_for`]).
async fn topup_answer(
    state: &AppState,
    user_id: &str,
    topup_id: &str,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    let row =
        sqlx::query("SELECT esim_id, status, created_at, currency FROM esim_topups WHERE id = $1")
            .bind(topup_id)
            .fetch_one(state.db.reader())
            .await?;
    let status: String = row.try_get("status")?;
    let esim_id: String = row.try_get("esim_id")?;
    match status.as_str() {
        "pending" => {
            let age = now_ms() - row.try_get::<i64, _>("created_at")?;
            if age < orphaned_after(&state.config).as_millis() as i64 {
                return Err(still_running());
            }
            match fail_topup(state, topup_id, key).await? {
                Some(a) => Ok(a),
                None => Box::pin(topup_answer(state, user_id, topup_id, key)).await,
            }
        }
        "failed" => {
            let currency = currency_of(&row.try_get::<String, _>("currency")?);
            let balance =
                ledger::balance_of(state.db.reader(), AccountKind::User, user_id, currency).await?;
            let mut tx = state.db.begin_write().await?;
            let answer =
                Answer::store_problem(tx.conn(), user_id, key, topup_refunded(balance, currency))
                    .await?;
            tx.commit().await?;
            Ok(answer)
        }
        _ => {
            let mut tx = state.db.begin_write().await?;
            let answer = topped_up(tx.conn(), user_id, &esim_id, key).await?;
            tx.commit().await?;
            Ok(answer)
        }
    }
}
