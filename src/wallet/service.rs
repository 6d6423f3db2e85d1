//! Wallet rules: balances, history, transfers between fans.

use axum::http::StatusCode;
use sqlx::{AssertSqlSafe, Row, any::AnyRow};

use crate::app::AppState;
use crate::db::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::http::idempotency::{Answer, IdempotencyKey};
use crate::http::validate::normalize_email;
use crate::notifications;
use crate::wallet::ledger::{self, LedgerError, Operation, Posting};
use crate::wallet::model::*;
use crate::wallet::money::{AmountError, AmountInput, Currency, format_minor};

/// The currency of the fan's favourite club, or EUR.
pub async fn primary_currency(state: &AppState, user_id: &str) -> ApiResult<Currency> {
    let row = sqlx::query(
        "SELECT c.currency FROM users u LEFT JOIN clubs c ON c.id = u.club_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(state.db.reader())
    .await?;
    let code: Option<String> = match row {
        Some(r) => r.try_get("currency")?,
        None => None,
    };
    Ok(code
        .and_then(|c| Currency::parse(&c))
        .unwrap_or(Currency::Eur))
}

pub fn amount_error(field: &str, e: AmountError) -> ApiError {
    let code = match e {
        AmountError::NotPositive => "not_positive",
        AmountError::TooManyDigits { .. } => "too_many_decimals",
        AmountError::TooLarge => "too_large",
        AmountError::Exponent | AmountError::Format => "invalid_format",
    };
    ApiError::field(field, code, e.to_string())
}

pub fn parse_amount(input: &AmountInput, currency: Currency) -> ApiResult<i64> {
    input.parse(currency).map_err(|e| amount_error("amount", e))
}

pub async fn balances(state: &AppState, user_id: &str) -> ApiResult<BalanceResponse> {
    let primary = primary_currency(state, user_id).await?;
    let rows = sqlx::query(
        "SELECT currency, balance FROM accounts WHERE kind = 'user' AND owner_id = $1 ORDER BY currency",
    )
    .bind(user_id)
    .fetch_all(state.db.reader())
    .await?;
    let mut primary_balance = 0;
    let mut list = Vec::new();
    for r in &rows {
        let code: String = r.try_get("currency")?;
        let Some(cur) = Currency::parse(&code) else {
            continue;
        };
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

fn transaction_from_row(state: &AppState, r: &AnyRow) -> Result<Transaction, sqlx::Error> {
    let code: String = r.try_get("currency")?;
    let cur = Currency::parse(&code).unwrap_or(Currency::Eur);
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
            name: state.payments.display_name(&cp_owner),
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

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub async fn history(state: &AppState, user_id: &str, q: &ListQuery) -> ApiResult<TransactionList> {
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
                    ApiError::field(
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
        .fetch_all(state.db.reader())
        .await?;
    let mut page = rows
        .iter()
        .map(|r| {
            Ok((
                transaction_from_row(state, r)?,
                r.try_get::<i64, _>("position")?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let next_cursor =
        crate::http::validate::next_page(&mut page, limit, |(t, p)| format!("{p}_{}", t.id));
    let transactions = page.into_iter().map(|(t, _)| t).collect();
    Ok(TransactionList {
        transactions,
        next_cursor,
    })
}

pub async fn transaction(state: &AppState, user_id: &str, id: &str) -> ApiResult<Transaction> {
    let sql = format!("{HISTORY_SQL} AND t.id = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(user_id)
        .bind(id)
        .fetch_optional(state.db.reader())
        .await?
        .ok_or_else(|| ApiError::not_found("transaction"))?;
    Ok(transaction_from_row(state, &row)?)
}

/// The user's side of a transfer just posted in the transaction `conn` holds.
pub async fn view_of(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    transfer_id: &str,
) -> ApiResult<Transaction> {
    let sql = format!("{HISTORY_SQL} AND t.id = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(user_id)
        .bind(transfer_id)
        .fetch_one(conn)
        .await?;
    Ok(transaction_from_row(state, &row)?)
}

pub fn ledger_error(e: LedgerError, currency: Currency) -> ApiError {
    match e {
        LedgerError::InsufficientFunds { .. } => ApiError::conflict(
            "insufficient_funds",
            format!(
                "your {} balance is too low for this payment",
                currency.code()
            ),
        ),
        LedgerError::DuplicateOperation => ApiError::conflict(
            crate::http::idempotency::ANSWERED,
            "this Idempotency-Key already completed an operation; see your transaction history",
        ),
        LedgerError::CurrencyMismatch(acc) => {
            ApiError::Internal(anyhow::anyhow!("currency mismatch on account {acc}"))
        }
        LedgerError::Db(e) => ApiError::Database(e),
    }
}

pub struct SendInput {
    pub recipient_id: Option<String>,
    pub recipient_email: Option<String>,
    pub amount: AmountInput,
    pub currency: Option<Currency>,
    pub note: Option<String>,
}

pub async fn send(
    state: &AppState,
    sender: &str,
    input: SendInput,
    key: Option<&IdempotencyKey>,
) -> ApiResult<Answer> {
    // Sender and recipient in one read: names, and the sender's primary currency.
    let email = match (&input.recipient_id, &input.recipient_email) {
        (Some(_), _) => None,
        (None, Some(e)) => Some(normalize_email(e).unwrap_or_default()),
        (None, None) => {
            return Err(ApiError::field(
                "recipientId",
                "required",
                "give recipientId or recipientEmail",
            ));
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
    .fetch_all(state.db.reader())
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
    let sender_row =
        sender_row.ok_or_else(|| ApiError::unauthorized("this account no longer exists"))?;
    let recipient = recipient.ok_or_else(|| ApiError::not_found("recipient"))?;
    let recipient_id: String = recipient.try_get("id")?;
    let recipient_name: String = recipient.try_get("name")?;
    if recipient_id == sender {
        return Err(ApiError::field(
            field,
            "self_transfer",
            "you cannot send money to yourself",
        ));
    }
    let sender_name: String = sender_row.try_get("name")?;
    let currency = match input.currency {
        Some(c) => c,
        None => sender_row
            .try_get::<Option<String>, _>("currency")?
            .and_then(|c| Currency::parse(&c))
            .unwrap_or(Currency::Eur),
    };
    let amount = parse_amount(&input.amount, currency)?;

    let mut tx = state.db.begin_write().await?;
    let cached = (
        state.accounts.get(sender, currency),
        state.accounts.get(&recipient_id, currency),
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
            idempotency_key: key.map(|k| k.0.as_str()),
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
    .map_err(|e| ledger_error(e, currency))?;
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
    let answer = Answer::store(tx.conn(), sender, key, StatusCode::CREATED, &resp).await?;
    tx.commit().await?;
    state.accounts.remember(sender, currency, &from);
    state.accounts.remember(&recipient_id, currency, &to);
    notifications::publish(state, &recipient_id, &note);
    Ok(answer)
}
