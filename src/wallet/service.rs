//! Wallet rules: balances, history, transfers between fans.

use sqlx::{AssertSqlSafe, Row, any::AnyRow};

use crate::db::rfc3339;
use crate::domain::Invalid;
use crate::http::validate::normalize_email;
use crate::notifications;
use crate::replay::Replay;
use crate::wallet::Wallet;
use crate::wallet::error::{ChargeError, WalletError, amount_invalid};
use crate::wallet::ledger::{self, Operation, Posting};
use crate::wallet::model::*;
use crate::wallet::money::{AmountInput, Currency, format_minor};

impl Wallet {
    /// The currency of the fan's favourite club, or EUR.
    pub async fn primary_currency(&self, user_id: &str) -> Result<Currency, WalletError> {
        let row = sqlx::query(
            "SELECT c.currency FROM users u LEFT JOIN clubs c ON c.id = u.club_id WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.db.reader())
        .await?;
        let code: Option<String> = match row {
            Some(r) => r.try_get("currency")?,
            None => None,
        };
        // A fan without a club pays in euros.
        match code {
            Some(c) => Ok(Currency::stored(&c)?),
            None => Ok(Currency::Eur),
        }
    }

    pub async fn balances(&self, user_id: &str) -> Result<BalanceResponse, WalletError> {
        let primary = self.primary_currency(user_id).await?;
        let rows = sqlx::query(
        "SELECT currency, balance FROM accounts WHERE kind = 'user' AND owner_id = $1 ORDER BY currency",
    )
    .bind(user_id)
    .fetch_all(self.db.reader())
    .await?;
        let mut primary_balance = 0;
        let mut list = Vec::new();
        for r in &rows {
            let code: String = r.try_get("currency")?;
            let cur = Currency::stored(&code)?;
            let bal: i64 = r.try_get("balance")?;
            if cur == primary {
                primary_balance = bal;
            }
            list.push(BalanceEntry {
                currency: cur.code().to_owned(),
                balance: format_minor(bal, cur),
            });
        }
        if !list.iter().any(|b| b.currency == primary.code()) {
            list.insert(
                0,
                BalanceEntry {
                    currency: primary.code().to_owned(),
                    balance: format_minor(0, primary),
                },
            );
        }
        Ok(BalanceResponse {
            balance: format_minor(primary_balance, primary),
            currency: primary.code().to_owned(),
            balances: list,
        })
    }

    fn transaction_from_row(&self, r: &AnyRow) -> Result<Transaction, WalletError> {
        let code: String = r.try_get("currency")?;
        let cur = Currency::stored(&code)?;
        let kind: String = r.try_get("kind")?;
        let direction: String = r.try_get("direction")?;
        let cp_kind: String = r.try_get("cp_kind")?;
        let cp_owner: String = r.try_get("cp_owner")?;
        let counterparty = match cp_kind.as_str() {
            "user" => Counterparty {
                kind: "user".into(),
                id: Some(cp_owner),
                name: r
                    .try_get::<Option<String>, _>("cp_user")?
                    .unwrap_or_default(),
            },
            "club_revenue" => Counterparty {
                kind: "club".into(),
                name: r
                    .try_get::<Option<String>, _>("cp_club")?
                    .unwrap_or_else(|| cp_owner.clone()),
                id: Some(cp_owner),
            },
            "provider_funding" => Counterparty {
                kind: "provider".into(),
                name: self.payments.display_name(&cp_owner),
                id: Some(cp_owner),
            },
            "platform_fees" => Counterparty {
                kind: "platform".into(),
                id: None,
                name: "PaieCashFan".into(),
            },
            other => Counterparty {
                kind: other.to_owned(),
                id: Some(cp_owner.clone()),
                name: cp_owner,
            },
        };
        let description = match (kind.as_str(), direction.as_str()) {
            ("deposit", _) => format!("Deposit via {}", counterparty.name),
            ("transfer", "out") => format!("Transfer to {}", counterparty.name),
            ("transfer", _) => format!("Transfer from {}", counterparty.name),
            ("refund", _) => format!("Refund from {}", counterparty.name),
            (k, "out") => format!("{} — {}", capitalize(k), counterparty.name),
            (k, _) => format!("{} from {}", capitalize(k), counterparty.name),
        };
        let reference = match (
            r.try_get::<Option<String>, _>("reference_type")?,
            r.try_get::<Option<String>, _>("reference_id")?,
        ) {
            (Some(kind), Some(id)) => Some(Reference { kind, id }),
            _ => None,
        };
        Ok(Transaction {
            id: r.try_get("id")?,
            kind,
            direction,
            amount: format_minor(r.try_get("amount")?, cur),
            currency: cur.code().to_owned(),
            balance_after: format_minor(r.try_get("balance_after")?, cur),
            counterparty,
            description,
            note: r.try_get("note")?,
            reference,
            status: "completed".into(),
            created_at: rfc3339(r.try_get("created_at")?),
        })
    }

    pub async fn history(
        &self,
        user_id: &str,
        q: &ListQuery,
    ) -> Result<TransactionList, WalletError> {
        let limit = q.limit.unwrap_or(20);
        let offset = if q.cursor.is_some() {
            0
        } else {
            q.offset.unwrap_or(0)
        };
        // The cursor is the last row's position and id: `<position>_<id>`.
        let after = match q.cursor.as_deref() {
            None => None,
            Some(c) => Some(
                c.split_once('_')
                    .and_then(|(p, id)| Some((p.parse::<i64>().ok()?, id)))
                    .ok_or_else(|| {
                        Invalid::field(
                            "cursor",
                            "invalid_format",
                            "is not a cursor this API returned",
                        )
                    })?,
            ),
        };
        let sql = format!(
            "SELECT * FROM ({HISTORY_SQL}) h
         WHERE $2 = 0 OR h.position < $3 OR (h.position = $3 AND h.id < $4)
         ORDER BY h.position DESC, h.id DESC LIMIT $5 OFFSET $6"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(user_id)
            .bind(i64::from(after.is_some()))
            .bind(after.map_or(0, |a| a.0))
            .bind(after.map_or("", |a| a.1))
            .bind(limit + 1)
            .bind(offset)
            .fetch_all(self.db.reader())
            .await?;
        let mut page = rows
            .iter()
            .map(|r| {
                Ok((
                    self.transaction_from_row(r)?,
                    r.try_get::<i64, _>("position")?,
                ))
            })
            .collect::<Result<Vec<_>, WalletError>>()?;
        let next_cursor =
            crate::http::validate::next_page(&mut page, limit, |(t, p)| format!("{p}_{}", t.id));
        let transactions = page.into_iter().map(|(t, _)| t).collect();
        Ok(TransactionList {
            transactions,
            next_cursor,
        })
    }

    pub async fn transaction(&self, user_id: &str, id: &str) -> Result<Transaction, WalletError> {
        let sql = format!("{HISTORY_SQL} AND t.id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(user_id)
            .bind(id)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or(WalletError::NotFound("transaction"))?;
        self.transaction_from_row(&row)
    }

    /// The user's side of a transfer just posted in the transaction `conn` holds.
    pub async fn view_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        user_id: &str,
        transfer_id: &str,
    ) -> Result<Transaction, WalletError> {
        let sql = format!("{HISTORY_SQL} AND t.id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(user_id)
            .bind(transfer_id)
            .fetch_one(conn)
            .await?;
        self.transaction_from_row(&row)
    }

    pub async fn send(
        &self,
        sender: &str,
        input: SendInput,
        replay: &Replay<SendResponse>,
    ) -> Result<SendResponse, WalletError> {
        // Sender and recipient in one read: names, and the sender's primary currency.
        let email = match (&input.recipient_id, &input.recipient_email) {
            (Some(_), _) => None,
            (None, Some(e)) => Some(normalize_email(e).unwrap_or_default()),
            (None, None) => {
                return Err(Invalid::field(
                    "recipientId",
                    "required",
                    "give recipientId or recipientEmail",
                )
                .into());
            }
        };
        let field = if email.is_some() {
            "recipientEmail"
        } else {
            "recipientId"
        };
        let rows = sqlx::query(
        "SELECT u.id, u.name, u.email, c.currency FROM users u LEFT JOIN clubs c ON c.id = u.club_id
         WHERE u.id = $1 OR u.id = $2 OR (u.email = $3 AND $3 <> '')",
    )
    .bind(sender)
    .bind(input.recipient_id.as_deref().map(str::trim).unwrap_or(""))
    .bind(email.as_deref().unwrap_or(""))
    .fetch_all(self.db.reader())
    .await?;
        let mut sender_row = None;
        let mut recipient = None;
        for r in &rows {
            let id: String = r.try_get("id")?;
            if id == sender {
                sender_row = Some(r);
            }
            let matches = match (&input.recipient_id, &email) {
                (Some(rid), _) => rid.trim() == id,
                (None, Some(e)) => !e.is_empty() && r.try_get::<String, _>("email")? == *e,
                (None, None) => false,
            };
            if matches {
                recipient = Some(r);
            }
        }
        let sender_row = sender_row.ok_or(WalletError::AccountGone)?;
        let recipient = recipient.ok_or(WalletError::NotFound("recipient"))?;
        let recipient_id: String = recipient.try_get("id")?;
        let recipient_name: String = recipient.try_get("name")?;
        if recipient_id == sender {
            return Err(Invalid::field(
                field,
                "self_transfer",
                "you cannot send money to yourself",
            )
            .into());
        }
        let sender_name: String = sender_row.try_get("name")?;
        let currency = match input.currency {
            Some(c) => c,
            None => sender_row
                .try_get::<Option<String>, _>("currency")?
                .map(|c| Currency::stored(&c))
                .transpose()?
                .unwrap_or(Currency::Eur),
        };
        let amount = parse_amount(&input.amount, currency)?;

        let mut tx = self.db.begin_write().await?;
        let cached = (
            self.accounts.get(sender, currency),
            self.accounts.get(&recipient_id, currency),
        );
        let [from, to] = match cached {
            (Some(from), Some(to)) => [from, to],
            _ => ledger::user_accounts(tx.conn(), [sender, &recipient_id], currency).await?,
        };
        let posted = ledger::post(
            tx.conn(),
            Operation {
                kind: "transfer",
                user_id: Some(sender),
                idempotency_key: replay.key().map(|k| k.key.as_str()),
            },
            vec![Posting {
                debit: from.clone(),
                credit: to.clone(),
                amount,
                currency,
                kind: "transfer",
                reference: None,
                note: input.note.clone(),
                metadata: None,
            }],
        )
        .await
        .map_err(|e| ChargeError::from_ledger(e, currency))?;
        let money = format_minor(amount, currency);
        let note = notifications::notify(
        tx.conn(),
        &recipient_id,
        "wallet.received",
        "Money received",
        &format!("{sender_name} sent you {money} {}", currency.code()),
        Some(serde_json::json!({"transferId": posted.transfers[0].id, "amount": money, "currency": currency.code()})),
    )
    .await?;
        // The sender's side, built from what was just posted (no re-read).
        let t = &posted.transfers[0];
        let resp = SendResponse {
            transaction: Transaction {
                id: t.id.clone(),
                kind: "transfer".into(),
                direction: "out".into(),
                amount: money,
                currency: currency.code().to_owned(),
                balance_after: format_minor(t.debit_balance_after, currency),
                description: format!("Transfer to {recipient_name}"),
                counterparty: Counterparty {
                    kind: "user".into(),
                    id: Some(recipient_id.clone()),
                    name: recipient_name,
                },
                note: input.note,
                reference: None,
                status: "completed".into(),
                created_at: rfc3339(t.created_at),
            },
            new_balance: format_minor(posted.balances[&from], currency),
            currency: currency.code().to_owned(),
        };
        replay.success(tx.conn(), &resp).await?;
        tx.commit().await?;
        self.accounts.remember(sender, currency, &from);
        self.accounts.remember(&recipient_id, currency, &to);
        self.notifier.publish(&recipient_id, &note);
        Ok(resp)
    }
}

/// The user's side of transfers: direction, their balance after it, and who
/// was on the other side (a name, never an e-mail).
const HISTORY_SQL: &str = "
SELECT t.id, t.amount, t.currency, t.kind, t.note, t.reference_type, t.reference_id, t.created_at,
       CASE WHEN t.debit_account_id = a.id THEN 'out' ELSE 'in' END AS direction,
       CASE WHEN t.debit_account_id = a.id THEN t.debit_balance_after ELSE t.credit_balance_after END AS balance_after,
       CASE WHEN t.debit_account_id = a.id THEN COALESCE(t.debit_position, t.created_at * 1000)
            ELSE COALESCE(t.credit_position, t.created_at * 1000) END AS position,
       o.kind AS cp_kind, o.owner_id AS cp_owner, u.name AS cp_user, c.name AS cp_club
FROM accounts a
JOIN transfers t ON t.debit_account_id = a.id OR t.credit_account_id = a.id
JOIN accounts o ON o.id = CASE WHEN t.debit_account_id = a.id THEN t.credit_account_id ELSE t.debit_account_id END
LEFT JOIN users u ON o.kind = 'user' AND u.id = o.owner_id
LEFT JOIN clubs c ON o.kind = 'club_revenue' AND c.id = o.owner_id
WHERE a.kind = 'user' AND a.owner_id = $1";

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub struct SendInput {
    pub recipient_id: Option<String>,
    pub recipient_email: Option<String>,
    pub amount: AmountInput,
    pub currency: Option<Currency>,
    pub note: Option<String>,
}

pub fn parse_amount(input: &AmountInput, currency: Currency) -> Result<i64, Invalid> {
    input
        .parse(currency)
        .map_err(|e| amount_invalid("amount", e))
}
