//! A new fan's wallet: opened with the account, and credited with the signup
//! bonus when one is configured, in the transaction that creates the fan.

use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

use crate::wallet::ledger::{self, AccountKind, LedgerError, Operation, PLATFORM, Posting};
use crate::wallet::money::{Currency, format_minor};

/// The wallet a registration opened.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewWallet {
    /// The wallet's account id.
    pub id: String,
    #[schema(example = "0.00")]
    pub balance: String,
    pub currency: String,
}

/// Opens the fan's wallet in their club's currency (euros without a club)
/// and pays the bonus, debited from the promotions account, so the money
/// has a source on the ledger like every other euro. Runs inside the
/// caller's transaction: a registration that rolls back leaves neither.
pub async fn open(
    conn: &mut AnyConnection,
    user_id: &str,
    bonus: Option<(Currency, i64)>,
) -> Result<NewWallet, LedgerError> {
    // The fan's row is already in this transaction.
    let currency = crate::wallet::store::club_currency(&mut *conn, user_id)
        .await?
        .and_then(|c| Currency::parse(&c))
        .unwrap_or(Currency::Eur);
    let wallet = ledger::account_id(&mut *conn, AccountKind::User, user_id, currency).await?;
    let mut balance = 0;
    if let Some((bonus_currency, amount)) = bonus {
        let credit = if bonus_currency == currency {
            wallet.clone()
        } else {
            ledger::account_id(&mut *conn, AccountKind::User, user_id, bonus_currency).await?
        };
        let debit = ledger::account_id(
            &mut *conn,
            AccountKind::Promotions,
            PLATFORM,
            bonus_currency,
        )
        .await?;
        ledger::post(
            &mut *conn,
            Operation {
                kind: "bonus",
                user_id: Some(user_id),
                // One bonus per fan, whatever happens around it.
                idempotency_key: Some("signup-bonus"),
            },
            vec![Posting {
                debit,
                credit,
                amount,
                currency: bonus_currency,
                kind: "bonus",
                reference: None,
                note: Some("Welcome bonus".into()),
                metadata: None,
            }],
        )
        .await?;
        if bonus_currency == currency {
            balance = amount;
        }
    }
    Ok(NewWallet {
        id: wallet,
        balance: format_minor(balance, currency),
        currency: currency.code().to_owned(),
    })
}
