//! Wallet rules: balances, history, transfers between fans.

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
use crate::wallet::store::{self, HistoryRow};

impl Wallet {
    /// The currency of the fan's favourite club, or EUR.
    pub async fn primary_currency(&self, user_id: &str) -> Result<Currency, WalletError> {
        // A fan without a club pays in euros.
        match store::club_currency(self.db.reader(), user_id).await? {
            Some(c) => Ok(Currency::stored(&c)?),
            None => Ok(Currency::Eur),
        }
    }

    pub async fn balances(&self, user_id: &str) -> Result<BalanceResponse, WalletError> {
        let rows = store::balances(self.db.reader(), user_id).await?;
        // A fan without a club pays in euros.
        let primary = match rows.first().and_then(|r| r.club_currency.as_deref()) {
            Some(c) => Currency::stored(c)?,
            None => Currency::Eur,
        };
        let mut primary_balance = 0;
        let mut list = Vec::new();
        for r in rows {
            let (Some(code), Some(bal)) = (r.currency, r.balance) else {
                continue;
            };
            let cur = Currency::stored(&code)?;
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

    fn transaction_from_row(&self, r: HistoryRow) -> Result<Transaction, WalletError> {
        let cur = Currency::stored(&r.currency)?;
        let (kind, direction, cp_kind, cp_owner) = (r.kind, r.direction, r.cp_kind, r.cp_owner);
        let counterparty = match cp_kind.as_str() {
            "user" => Counterparty {
                kind: "user".into(),
                id: Some(cp_owner),
                name: r.cp_user.unwrap_or_default(),
            },
            "club_revenue" => Counterparty {
                kind: "club".into(),
                name: r.cp_club.unwrap_or_else(|| cp_owner.clone()),
                id: Some(cp_owner),
            },
            "provider_funding" => Counterparty {
                kind: "provider".into(),
                name: self.payments.display_name(&cp_owner),
                id: Some(cp_owner),
            },
            "platform_fees" | "promotions" => Counterparty {
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
            ("bonus", _) => "Welcome bonus".to_owned(),
            ("transfer", "out") => format!("Transfer to {}", counterparty.name),
            ("transfer", _) => format!("Transfer from {}", counterparty.name),
            ("refund", _) => format!("Refund from {}", counterparty.name),
            (k, "out") => format!("{} — {}", capitalize(k), counterparty.name),
            (k, _) => format!("{} from {}", capitalize(k), counterparty.name),
        };
        let reference = match (r.reference_type, r.reference_id) {
            (Some(kind), Some(id)) => Some(Reference { kind, id }),
            _ => None,
        };
        Ok(Transaction {
            id: r.id,
            kind,
            direction,
            amount: format_minor(r.amount, cur),
            currency: cur.code().to_owned(),
            balance_after: format_minor(r.balance_after, cur),
            counterparty,
            description,
            note: r.note,
            reference,
            status: "completed".into(),
            created_at: rfc3339(r.created_at),
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
            Some(c) => Some(crate::http::validate::parse_cursor(c).ok_or_else(|| {
                Invalid::field(
                    "cursor",
                    "invalid_format",
                    "is not a cursor this API returned",
                )
            })?),
        };
        let rows = store::history_page(self.db.reader(), user_id, after, limit + 1, offset).await?;
        let mut page = rows
            .into_iter()
            .map(|r| {
                let position = r.position;
                Ok((self.transaction_from_row(r)?, position))
            })
            .collect::<Result<Vec<_>, WalletError>>()?;
        let next_cursor =
            crate::http::validate::next_page(&mut page, limit, |(t, p)| format!("{p}_{}", t.id));
        let transactions = page.into_iter().map(|(t, _)| t).collect();
        let total = store::history_count(self.db.reader(), user_id).await?;
        Ok(TransactionList {
            transactions,
            next_cursor,
            total,
        })
    }

    pub async fn transaction(&self, user_id: &str, id: &str) -> Result<Transaction, WalletError> {
        let row = store::history_entry(self.db.reader(), user_id, id)
            .await?
            .ok_or(WalletError::NotFound("transaction"))?;
        self.transaction_from_row(row)
    }

    /// The user's side of a transfer just posted in the transaction `conn` holds.
    pub async fn view_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        user_id: &str,
        transfer_id: &str,
    ) -> Result<Transaction, WalletError> {
        let row = store::history_entry(conn, user_id, transfer_id)
            .await?
            .ok_or_else(|| WalletError::Internal(format!("transfer {transfer_id} not posted")))?;
        self.transaction_from_row(row)
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
        let rows = store::parties(
            self.db.reader(),
            sender,
            input.recipient_id.as_deref().map(str::trim).unwrap_or(""),
            email.as_deref().unwrap_or(""),
        )
        .await?;
        let mut sender_row = None;
        let mut recipient = None;
        for r in &rows {
            if r.id == sender {
                sender_row = Some(r);
            }
            let matches = match (&input.recipient_id, &email) {
                (Some(rid), _) => rid.trim() == r.id,
                (None, Some(e)) => !e.is_empty() && r.email == *e,
                (None, None) => false,
            };
            if matches {
                recipient = Some(r);
            }
        }
        let sender_row = sender_row.ok_or(WalletError::AccountGone)?;
        let recipient = recipient.ok_or(WalletError::NotFound("recipient"))?;
        let recipient_id = recipient.id.clone();
        let recipient_name = recipient.name.clone();
        if recipient_id == sender {
            return Err(Invalid::field(
                field,
                "self_transfer",
                "you cannot send money to yourself",
            )
            .into());
        }
        let sender_name = sender_row.name.clone();
        let currency = match (input.currency, &sender_row.currency) {
            (Some(c), _) => c,
            (None, Some(c)) => Currency::stored(c)?,
            (None, None) => Currency::Eur,
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
