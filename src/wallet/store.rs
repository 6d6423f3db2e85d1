//! The wallet's reads: balances, the history of a fan's side of each
//! transfer, the parties of a transfer. Postings themselves go through
//! [`crate::wallet::ledger`], whose statements enforce the ledger's
//! invariants; deposits' bookkeeping lives with the payments.

use sqlx::{AnyConnection, AssertSqlSafe};

use crate::wallet::model::PaymentStatus;

/// One of a fan's balances.
#[derive(sqlx::FromRow)]
pub(super) struct BalanceRow {
    pub club_currency: Option<String>,
    pub currency: Option<String>,
    pub balance: Option<i64>,
}

/// A fan's side of one transfer: direction, their balance after it, and who
/// was on the other side (a name, never an e-mail).
#[derive(sqlx::FromRow)]
pub(super) struct HistoryRow {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub kind: String,
    pub note: Option<String>,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub created_at: i64,
    /// `in` or `out`.
    pub direction: String,
    pub balance_after: i64,
    /// Orders the fan's history (see `accounts.last_position`).
    pub position: i64,
    /// The other account's kind and owner, and its owner's name.
    pub cp_kind: String,
    pub cp_owner: String,
    pub cp_user: Option<String>,
    pub cp_club: Option<String>,
}

/// A party of a transfer, and the currency of their club.
#[derive(sqlx::FromRow)]
pub(super) struct PartyRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub currency: Option<String>,
}

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

/// The currency of the user's club; None without a club (or without the user).
pub(super) async fn club_currency(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT c.currency FROM users u LEFT JOIN clubs c ON c.id = u.club_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|r| r.0))
}

/// The user's balances, by currency, with their club's currency on every
/// row (one round trip: the wallet screen asks for this all the time). No
/// row: no such user; a row without a currency: no account yet.
pub(super) async fn balances(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Vec<BalanceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.currency AS club_currency, a.currency, a.balance
         FROM users u LEFT JOIN clubs c ON c.id = u.club_id
         LEFT JOIN accounts a ON a.kind = 'user' AND a.owner_id = u.id
         WHERE u.id = $1 ORDER BY a.currency",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Newest first; after the `(position, id)` of the last row of the previous page.
pub(super) async fn history_page(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    after: Option<(i64, &str)>,
    limit: i64,
    offset: i64,
) -> Result<Vec<HistoryRow>, sqlx::Error> {
    let sql = format!(
        "SELECT * FROM ({HISTORY_SQL}) h
         WHERE $2 = 0 OR h.position < $3 OR (h.position = $3 AND h.id < $4)
         ORDER BY h.position DESC, h.id DESC LIMIT $5 OFFSET $6"
    );
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(user_id)
        .bind(i64::from(after.is_some()))
        .bind(after.map_or(0, |a| a.0))
        .bind(after.map_or("", |a| a.1))
        .bind(limit)
        .bind(offset)
        .fetch_all(conn)
        .await
}

/// How many transfers the user's history holds (each side on its index).
pub(super) async fn history_count(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM transfers t JOIN accounts a ON a.id = t.debit_account_id
                  WHERE a.kind = 'user' AND a.owner_id = $1)
              + (SELECT COUNT(*) FROM transfers t JOIN accounts a ON a.id = t.credit_account_id
                  WHERE a.kind = 'user' AND a.owner_id = $1)",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// The user's side of one transfer (None when it is not theirs).
pub(super) async fn history_entry(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    transfer_id: &str,
) -> Result<Option<HistoryRow>, sqlx::Error> {
    let sql = format!("{HISTORY_SQL} AND t.id = $2");
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(user_id)
        .bind(transfer_id)
        .fetch_optional(conn)
        .await
}

/// The sender and the recipient (by id or e-mail) in one read.
pub(super) async fn parties(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    sender: &str,
    recipient_id: &str,
    recipient_email: &str,
) -> Result<Vec<PartyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.name, u.email, c.currency FROM users u LEFT JOIN clubs c ON c.id = u.club_id
         WHERE u.id = $1 OR u.id = $2 OR (u.email = $3 AND $3 <> '')",
    )
    .bind(sender)
    .bind(recipient_id)
    .bind(recipient_email)
    .fetch_all(conn)
    .await
}

// Deposits through payment providers.

pub(super) struct NewPayment<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub provider: &'a str,
    pub method: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub now: i64,
}

pub(super) async fn insert_payment(
    conn: &mut AnyConnection,
    p: NewPayment<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payments (id, user_id, provider, method, amount, currency, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
    )
    .bind(p.id)
    .bind(p.user_id)
    .bind(p.provider)
    .bind(p.method)
    .bind(p.amount)
    .bind(p.currency)
    .bind(p.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The provider's reference of a payment it accepted (and the secret the
/// fan's browser completes it with).
pub(super) async fn set_provider_ref(
    conn: &mut AnyConnection,
    payment_id: &str,
    provider_ref: &str,
    client_secret: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET provider_ref = $2, client_secret = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(payment_id)
    .bind(provider_ref)
    .bind(client_secret)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(super) struct PaymentRow {
    pub id: String,
    pub provider: String,
    pub method: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub provider_ref: Option<String>,
    pub client_secret: Option<String>,
    pub created_at: i64,
}

/// A user's own payment.
pub(super) async fn payment_of(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
    id: &str,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, provider, method, amount, currency, status, failure_reason, provider_ref,
                client_secret, created_at
         FROM payments WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// Adds `amount` to the day's deposit total if it stays within `per_day`
/// (one conditional update: concurrent deposits cannot pass the limit).
pub(super) async fn use_allowance(
    conn: &mut AnyConnection,
    user_id: &str,
    currency: &str,
    day: i64,
    amount: i64,
    per_day: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "INSERT INTO deposit_usage (user_id, currency, day, total) VALUES ($1, $2, $3, 0)
         ON CONFLICT (user_id, currency, day) DO NOTHING",
    )
    .bind(user_id)
    .bind(currency)
    .bind(day)
    .execute(&mut *conn)
    .await?;
    let n = sqlx::query(
        "UPDATE deposit_usage SET total = total + $4
         WHERE user_id = $1 AND currency = $2 AND day = $3 AND total + $4 <= $5",
    )
    .bind(user_id)
    .bind(currency)
    .bind(day)
    .bind(amount)
    .bind(per_day)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub(super) async fn give_back_allowance(
    conn: &mut AnyConnection,
    user_id: &str,
    currency: &str,
    day: i64,
    amount: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deposit_usage SET total = total - $4 WHERE user_id = $1 AND currency = $2 AND day = $3 AND total >= $4",
    )
    .bind(user_id)
    .bind(currency)
    .bind(day)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(())
}

/// A payment whose status just changed.
#[derive(sqlx::FromRow)]
pub(super) struct ChangedPayment {
    pub user_id: String,
    pub provider: String,
    pub amount: i64,
    pub currency: String,
    pub created_at: i64,
}

/// `pending` → `failed` with the reason; None when it was no longer pending.
pub(super) async fn fail_payment(
    conn: &mut AnyConnection,
    payment_id: &str,
    reason: &str,
    now: i64,
) -> Result<Option<ChangedPayment>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE payments SET status = 'failed', failure_reason = $3, updated_at = $2
         WHERE id = $1 AND status = 'pending'
         RETURNING user_id, provider, amount, currency, created_at",
    )
    .bind(payment_id)
    .bind(now)
    .bind(reason)
    .fetch_optional(conn)
    .await
}

/// `from` → `succeeded`; None when the payment was not in `from`.
pub(super) async fn succeed_payment(
    conn: &mut AnyConnection,
    payment_id: &str,
    provider_ref: Option<&str>,
    from: PaymentStatus,
    now: i64,
) -> Result<Option<ChangedPayment>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE payments SET status = 'succeeded', provider_ref = COALESCE(provider_ref, $2),
                provider_status = 'succeeded', updated_at = $3
         WHERE id = $1 AND status = $4
         RETURNING user_id, provider, amount, currency, created_at",
    )
    .bind(payment_id)
    .bind(provider_ref)
    .bind(now)
    .bind(from.as_str())
    .fetch_optional(conn)
    .await
}

/// The ledger operation that credited a payment.
pub(super) async fn link_operation(
    conn: &mut AnyConnection,
    payment_id: &str,
    operation_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET operation_id = $2 WHERE id = $1")
        .bind(payment_id)
        .bind(operation_id)
        .execute(conn)
        .await?;
    Ok(())
}

// What providers report.

/// Records that the provider's event was handled (in the transaction of its
/// effect); false when it was handled before.
pub(super) async fn first_delivery(
    conn: &mut AnyConnection,
    provider: &str,
    event_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO webhook_events (provider, event_id, received_at) VALUES ($1, $2, $3)
         ON CONFLICT (provider, event_id) DO NOTHING",
    )
    .bind(provider)
    .bind(event_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

#[derive(sqlx::FromRow)]
pub(super) struct ProviderPayment {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    /// The provider's reference recorded when the payment started.
    pub provider_ref: Option<String>,
}

/// A payment of `provider`, by the provider's reference, else by our id
/// (the caller checks that the two agree).
pub(super) async fn provider_payment(
    conn: &mut AnyConnection,
    provider: &str,
    payment_id: &str,
    provider_ref: &str,
) -> Result<Option<ProviderPayment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, amount, currency, provider_ref FROM payments
         WHERE provider = $1 AND (id = $2 OR (provider_ref = $3 AND $3 <> ''))
         ORDER BY CASE WHEN provider_ref = $3 THEN 0 ELSE 1 END
         LIMIT 1",
    )
    .bind(provider)
    .bind(payment_id)
    .bind(provider_ref)
    .fetch_optional(conn)
    .await
}

/// Records what the provider reports about a still pending payment. Events
/// arrive out of order: nothing here touches a payment that has settled.
pub(super) async fn provider_says(
    conn: &mut AnyConnection,
    payment_id: &str,
    provider_status: &str,
    failure: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET provider_status = $2, failure_reason = COALESCE($3, failure_reason), updated_at = $4
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(payment_id)
    .bind(provider_status)
    .bind(failure)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) struct DeadLetterEntry<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub reason: &'a str,
    pub now: i64,
}

/// Keeps an event that could not be applied; a second delivery counts an
/// attempt and reopens it.
pub(super) async fn dead_letter(
    conn: &mut AnyConnection,
    d: DeadLetterEntry<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_dead_letters (id, provider, event_id, event_type, payload, reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (provider, event_id) DO UPDATE SET attempts = webhook_dead_letters.attempts + 1,
             reason = excluded.reason, updated_at = excluded.updated_at, resolved_at = NULL",
    )
    .bind(d.id)
    .bind(d.provider)
    .bind(d.event_id)
    .bind(d.event_type)
    .bind(d.payload)
    .bind(d.reason)
    .bind(d.now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(super) struct DeadLetterRow {
    pub id: String,
    pub provider: String,
    pub event_id: String,
    pub event_type: String,
    pub reason: String,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
}

pub(super) async fn dead_letters(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    include_resolved: bool,
) -> Result<Vec<DeadLetterRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, provider, event_id, event_type, reason, attempts, created_at, updated_at, resolved_at
         FROM webhook_dead_letters WHERE $1 = 1 OR resolved_at IS NULL ORDER BY id DESC LIMIT 500",
    )
    .bind(i64::from(include_resolved))
    .fetch_all(conn)
    .await
}

/// The raw event of a dead letter of `provider`.
pub(super) async fn dead_letter_payload(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    provider: &str,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT payload FROM webhook_dead_letters WHERE id = $1 AND provider = $2")
            .bind(id)
            .bind(provider)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| r.0))
}

pub(super) async fn resolve_dead_letter(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_dead_letters SET resolved_at = $2, updated_at = $2 WHERE id = $1 AND resolved_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(super) struct PendingPayment {
    pub id: String,
    pub provider: String,
    pub provider_ref: Option<String>,
}

/// Payments still pending that were created at or before `cutoff`.
pub(super) async fn pending_since(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    cutoff: i64,
) -> Result<Vec<PendingPayment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, provider, provider_ref FROM payments WHERE status = 'pending' AND created_at <= $1",
    )
    .bind(cutoff)
    .fetch_all(conn)
    .await
}
