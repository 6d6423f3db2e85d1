//! The double-entry ledger every payment goes through. No HTTP here.
//!
//! Invariants, all enforced by SQL statements inside the caller's transaction:
//! - a fan's account never goes below zero: the debit is a conditional UPDATE
//!   (`... AND balance + delta >= 0`), backed by a CHECK constraint;
//! - the transfers of one operation commit together (one transaction);
//! - accounts are locked in ascending id order, whatever the order of the
//!   postings, so concurrent operations cannot deadlock on PostgreSQL;
//! - an Idempotency-Key is bound to its operation by a UNIQUE constraint, so
//!   a retried request can never post twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use sqlx::{AnyConnection, Row};

use crate::db::{new_id, now_ms};
use crate::error::constraint_violation;
use crate::wallet::money::Currency;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// A fan's wallet; never negative.
    User,
    /// Money that came in from outside through a payment provider.
    ProviderFunding,
    /// What a club earned from sales.
    ClubRevenue,
    /// The platform's commission.
    PlatformFees,
    /// What is owed to the eSIM supplier.
    EsimSupplier,
    /// The platform's promotions budget (signup bonuses): goes negative by
    /// what it has given away, like any system account.
    Promotions,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::ProviderFunding => "provider_funding",
            AccountKind::ClubRevenue => "club_revenue",
            AccountKind::PlatformFees => "platform_fees",
            AccountKind::EsimSupplier => "esim_supplier",
            AccountKind::Promotions => "promotions",
        }
    }
}

/// Owner id of the single platform fee account per currency.
pub const PLATFORM: &str = "platform";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient funds")]
    InsufficientFunds { account_id: String },
    #[error("this idempotency key already posted an operation")]
    DuplicateOperation,
    #[error("currency mismatch on account {0}")]
    CurrencyMismatch(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Finds or creates the account of `owner` in `currency`. Insert-if-absent then
/// read, so concurrent first uses agree on one account.
pub async fn account_id(
    conn: &mut AnyConnection,
    kind: AccountKind,
    owner: &str,
    currency: Currency,
) -> Result<String, sqlx::Error> {
    if let Some(id) = find_account(&mut *conn, kind, owner, currency).await? {
        return Ok(id);
    }
    sqlx::query(
        "INSERT INTO accounts (id, kind, owner_id, currency, balance, created_at)
         VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (kind, owner_id, currency) DO NOTHING",
    )
    .bind(new_id())
    .bind(kind.as_str())
    .bind(owner)
    .bind(currency.code())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    find_account(conn, kind, owner, currency)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

/// Ids of fans' wallets already known to exist. An account is never deleted
/// and its id never changes, so an entry cannot go stale, even with several
/// instances on one database. Callers remember an id only after the
/// transaction that created or used it has committed, so a rolled-back
/// creation is never cached.
#[derive(Clone, Default)]
pub struct AccountIds {
    inner: Arc<Mutex<HashMap<(String, Currency), String>>>,
}

impl AccountIds {
    /// Bounded: past this many entries the cache starts over.
    const CAPACITY: usize = 100_000;

    pub fn get(&self, owner: &str, currency: Currency) -> Option<String> {
        let map = self.inner.lock().ok()?;
        map.get(&(owner.to_owned(), currency)).cloned()
    }

    pub fn remember(&self, owner: &str, currency: Currency, id: &str) {
        if let Ok(mut map) = self.inner.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert((owner.to_owned(), currency), id.to_owned());
        }
    }
}

/// The wallets of two fans in one currency, found in one query (the hot path
/// of a transfer) and created when missing.
pub async fn user_accounts(
    conn: &mut AnyConnection,
    owners: [&str; 2],
    currency: Currency,
) -> Result<[String; 2], sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, owner_id FROM accounts WHERE kind = 'user' AND currency = $1 AND owner_id IN ($2, $3)",
    )
    .bind(currency.code())
    .bind(owners[0])
    .bind(owners[1])
    .fetch_all(&mut *conn)
    .await?;
    let mut found: HashMap<String, String> = HashMap::new();
    for r in &rows {
        found.insert(r.try_get("owner_id")?, r.try_get("id")?);
    }
    let mut ids = [String::new(), String::new()];
    for (slot, owner) in ids.iter_mut().zip(owners) {
        *slot = match found.remove(owner) {
            Some(id) => id,
            None => account_id(conn, AccountKind::User, owner, currency).await?,
        };
    }
    Ok(ids)
}

pub async fn find_account(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    kind: AccountKind,
    owner: &str,
    currency: Currency,
) -> Result<Option<String>, sqlx::Error> {
    let row =
        sqlx::query("SELECT id FROM accounts WHERE kind = $1 AND owner_id = $2 AND currency = $3")
            .bind(kind.as_str())
            .bind(owner)
            .bind(currency.code())
            .fetch_optional(conn)
            .await?;
    row.map(|r| r.try_get("id")).transpose()
}

/// One movement of money inside an operation.
#[derive(Debug, Clone)]
pub struct Posting {
    pub debit: String,
    pub credit: String,
    pub amount: i64,
    pub currency: Currency,
    /// `deposit`, `transfer`, `purchase`, `commission`, `refund`, ...
    pub kind: &'static str,
    /// What it pays for: (`order`, id), (`ticket`, id), (`payment`, id), ...
    pub reference: Option<(&'static str, String)>,
    pub note: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

pub struct Operation<'a> {
    pub kind: &'a str,
    pub user_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct PostedTransfer {
    pub id: String,
    pub debit: String,
    pub credit: String,
    pub amount: i64,
    pub currency: Currency,
    pub debit_balance_after: i64,
    pub credit_balance_after: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct Posted {
    pub operation_id: String,
    pub transfers: Vec<PostedTransfer>,
    /// Balance of every touched account after the operation.
    pub balances: HashMap<String, i64>,
}

/// Posts an operation inside the caller's write transaction. Nothing is
/// committed here: the caller commits its own rows and these together.
pub async fn post(
    conn: &mut AnyConnection,
    op: Operation<'_>,
    postings: Vec<Posting>,
) -> Result<Posted, LedgerError> {
    let now = now_ms();
    let operation_id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO ledger_operations (id, kind, user_id, idempotency_key, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&operation_id)
    .bind(op.kind)
    .bind(op.user_id)
    .bind(op.idempotency_key)
    .bind(now)
    .execute(&mut *conn)
    .await;
    if let Err(err) = inserted {
        if constraint_violation(&err).is_some_and(|c| c.contains("idempotency")) {
            return Err(LedgerError::DuplicateOperation);
        }
        return Err(err.into());
    }

    // Net change per account, applied in ascending account id order.
    let mut deltas: BTreeMap<&str, (i64, Currency)> = BTreeMap::new();
    for p in &postings {
        debug_assert!(p.amount > 0 && p.debit != p.credit);
        deltas.entry(&p.debit).or_insert((0, p.currency)).0 -= p.amount;
        deltas.entry(&p.credit).or_insert((0, p.currency)).0 += p.amount;
    }
    // Each transfer takes a position on both its accounts, from the
    // account's own counter, in the statement that changes its balance.
    let mut touches: HashMap<&str, i64> = HashMap::new();
    for p in &postings {
        *touches.entry(&p.debit).or_default() += 1;
        *touches.entry(&p.credit).or_default() += 1;
    }
    let mut after: HashMap<String, i64> = HashMap::new();
    let mut next_position: HashMap<&str, i64> = HashMap::new();
    for (account, (delta, currency)) in &deltas {
        let taken = touches.get(account).copied().unwrap_or(1);
        let row = if *delta < 0 {
            sqlx::query(
                "UPDATE accounts SET balance = balance + $1,
                        last_position = CASE WHEN last_position + $3 > $4 THEN last_position + $3 ELSE $4 END
                 WHERE id = $2 AND (kind <> 'user' OR balance + $1 >= 0)
                 RETURNING balance, currency, last_position",
            )
        } else {
            sqlx::query(
                "UPDATE accounts SET balance = balance + $1,
                        last_position = CASE WHEN last_position + $3 > $4 THEN last_position + $3 ELSE $4 END
                 WHERE id = $2 RETURNING balance, currency, last_position",
            )
        }
        .bind(*delta)
        .bind(*account)
        .bind(taken)
        .bind(now * 1000 + taken - 1)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            return Err(LedgerError::InsufficientFunds {
                account_id: (*account).to_owned(),
            });
        };
        let code: String = row.try_get("currency")?;
        if code != currency.code() {
            return Err(LedgerError::CurrencyMismatch((*account).to_owned()));
        }
        after.insert((*account).to_owned(), row.try_get("balance")?);
        let last: i64 = row.try_get("last_position")?;
        next_position.insert(account, last - taken + 1);
    }
    let mut take_position = |account: &str| -> i64 {
        next_position.get_mut(account).map_or(0, |p| {
            *p += 1;
            *p - 1
        })
    };

    // Each transfer records both sides' balance right after it, replayed from
    // the balances before the operation.
    let mut running: HashMap<&str, i64> = deltas
        .iter()
        .map(|(acc, (delta, _))| (*acc, after[*acc] - delta))
        .collect();
    let mut transfers = Vec::with_capacity(postings.len());
    for p in &postings {
        let debit_after = {
            let b = running.entry(&p.debit).or_default();
            *b -= p.amount;
            *b
        };
        let credit_after = {
            let b = running.entry(&p.credit).or_default();
            *b += p.amount;
            *b
        };
        // Histories are ordered by these positions (`balanceAfter` replays
        // from them), not by the id, whose time comes from this instance's
        // clock.
        let (debit_position, credit_position) = (take_position(&p.debit), take_position(&p.credit));
        let id = new_id();
        sqlx::query(
            "INSERT INTO transfers (id, operation_id, debit_account_id, credit_account_id, amount, currency, kind,
                                    reference_type, reference_id, note, metadata, debit_balance_after, credit_balance_after, created_at,
                                    debit_position, credit_position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&id)
        .bind(&operation_id)
        .bind(&p.debit)
        .bind(&p.credit)
        .bind(p.amount)
        .bind(p.currency.code())
        .bind(p.kind)
        .bind(p.reference.as_ref().map(|r| r.0))
        .bind(p.reference.as_ref().map(|r| r.1.as_str()))
        .bind(p.note.as_deref())
        .bind(p.metadata.as_ref().map(|m| m.to_string()))
        .bind(debit_after)
        .bind(credit_after)
        .bind(now)
        .bind(debit_position)
        .bind(credit_position)
        .execute(&mut *conn)
        .await?;
        transfers.push(PostedTransfer {
            id,
            debit: p.debit.clone(),
            credit: p.credit.clone(),
            amount: p.amount,
            currency: p.currency,
            debit_balance_after: debit_after,
            credit_balance_after: credit_after,
            created_at: now,
        });
    }
    Ok(Posted {
        operation_id,
        transfers,
        balances: after,
    })
}

/// Balance of one account (0 when it does not exist yet).
pub async fn balance_of(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    kind: AccountKind,
    owner: &str,
    currency: Currency,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT balance FROM accounts WHERE kind = $1 AND owner_id = $2 AND currency = $3",
    )
    .bind(kind.as_str())
    .bind(owner)
    .bind(currency.code())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get("balance")).transpose()?.unwrap_or(0))
}
