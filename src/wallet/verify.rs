//! `ledger verify`: recomputes every balance from the transfers.

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use crate::db::{Db, now_ms, rfc3339};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// True when every check below holds.
    pub ok: bool,
    pub checked_at: String,
    pub accounts: i64,
    pub transfers: i64,
    /// Sum of all balances per currency; each must be zero.
    pub currencies: Vec<CurrencySum>,
    /// Accounts whose stored balance differs from credits minus debits.
    pub mismatches: Vec<BalanceMismatch>,
    pub negative_user_accounts: Vec<String>,
    /// Transfers whose currency differs from one of their accounts'.
    pub currency_mismatches: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrencySum {
    pub currency: String,
    /// In minor units.
    pub sum: i64,
    pub ok: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceMismatch {
    pub account_id: String,
    pub stored: i64,
    pub computed: i64,
}

pub async fn verify(db: &Db) -> Result<VerifyReport, sqlx::Error> {
    // One snapshot for every query, so concurrent transfers cannot make the
    // sums disagree with each other.
    let mut tx = db.snapshot().await?;

    let rows = sqlx::query(
        "SELECT a.id, a.balance,
                COALESCE((SELECT CAST(SUM(amount) AS BIGINT) FROM transfers WHERE credit_account_id = a.id), 0)
              - COALESCE((SELECT CAST(SUM(amount) AS BIGINT) FROM transfers WHERE debit_account_id = a.id), 0) AS computed
         FROM accounts a ORDER BY a.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let accounts = rows.len() as i64;
    let mut mismatches = Vec::new();
    for row in &rows {
        let stored: i64 = row.try_get("balance")?;
        let computed: i64 = row.try_get("computed")?;
        if stored != computed {
            mismatches.push(BalanceMismatch {
                account_id: row.try_get("id")?,
                stored,
                computed,
            });
        }
    }

    let currencies = sqlx::query(
        "SELECT currency, CAST(SUM(balance) AS BIGINT) AS total FROM accounts GROUP BY currency ORDER BY currency",
    )
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| {
        let sum: i64 = r.try_get("total")?;
        Ok(CurrencySum {
            currency: r.try_get("currency")?,
            sum,
            ok: sum == 0,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;

    let negative_user_accounts =
        sqlx::query("SELECT id FROM accounts WHERE kind = 'user' AND balance < 0 ORDER BY id")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<Vec<String>, _>>()?;

    let currency_mismatches: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM transfers t
         JOIN accounts d ON d.id = t.debit_account_id
         JOIN accounts c ON c.id = t.credit_account_id
         WHERE t.currency <> d.currency OR t.currency <> c.currency",
    )
    .fetch_one(&mut *tx)
    .await?
    .try_get("n")?;
    let transfers: i64 = sqlx::query("SELECT COUNT(*) AS n FROM transfers")
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
    tx.commit().await?;

    let ok = mismatches.is_empty()
        && negative_user_accounts.is_empty()
        && currency_mismatches == 0
        && currencies.iter().all(|c| c.ok);
    Ok(VerifyReport {
        ok,
        checked_at: rfc3339(now_ms()),
        accounts,
        transfers,
        currencies,
        mismatches,
        negative_user_accounts,
        currency_mismatches,
    })
}
