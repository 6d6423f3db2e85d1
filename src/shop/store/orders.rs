//! Orders and their lines.

use super::CartLine;
use crate::db::rfc3339;
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::wallet::money::{Currency, format_minor};
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: String,
    user_id: String,
    status: String,
    total: i64,
    currency: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct OrderLineRow {
    product_id: String,
    variant_id: String,
    club_id: String,
    name: String,
    size: Option<String>,
    unit_price: i64,
    quantity: i64,
}

const ORDER_COLUMNS: &str = "id, user_id, status, total, currency, created_at, updated_at";

async fn with_lines(
    conn: &mut AnyConnection,
    rows: Vec<OrderRow>,
) -> Result<Vec<(Order, String)>, ShopError> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let cur = Currency::stored(&r.currency)?;
        let lines: Vec<OrderLineRow> = sqlx::query_as(
            "SELECT product_id, variant_id, club_id, name, size, unit_price, quantity FROM order_lines
             WHERE order_id = $1 ORDER BY line_no",
        )
        .bind(&r.id)
        .fetch_all(&mut *conn)
        .await?;
        let lines = lines
            .into_iter()
            .map(|l| OrderLine {
                unit_price: format_minor(l.unit_price, cur),
                line_total: format_minor(l.unit_price * l.quantity, cur),
                product_id: l.product_id,
                variant_id: l.variant_id,
                club_id: l.club_id,
                name: l.name,
                size: l.size,
                quantity: l.quantity,
            })
            .collect();
        out.push((
            Order {
                id: r.id,
                status: OrderStatus::stored(&r.status)?,
                lines,
                total: format_minor(r.total, cur),
                currency: cur.code().to_owned(),
                created_at: rfc3339(r.created_at),
                updated_at: rfc3339(r.updated_at),
            },
            r.user_id,
        ));
    }
    Ok(out)
}

/// An order and its owner.
pub(in crate::shop) async fn load_order(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(Order, String)>, ShopError> {
    let row: Option<OrderRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(with_lines(conn, vec![row]).await?.pop()),
    }
}

/// A user's orders, newest first, after the order id `cursor`.
pub(in crate::shop) async fn orders_of(
    conn: &mut AnyConnection,
    user_id: &str,
    cursor: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<Order>, ShopError> {
    let rows: Vec<OrderRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE user_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(user_id)
    .bind(cursor)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    Ok(with_lines(conn, rows)
        .await?
        .into_iter()
        .map(|(o, _)| o)
        .collect())
}

pub(in crate::shop) struct NewOrder<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub total: i64,
    pub currency: &'a str,
    pub commission_bps: i64,
    pub operation_id: &'a str,
    pub now: i64,
}

/// A paid order and its lines (the cart's, with the prices charged).
pub(in crate::shop) async fn insert_order(
    conn: &mut AnyConnection,
    o: NewOrder<'_>,
    lines: &[CartLine],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO orders (id, user_id, status, total, currency, commission_bps, operation_id, created_at, updated_at)
         VALUES ($1, $2, 'paid', $3, $4, $5, $6, $7, $7)",
    )
    .bind(o.id)
    .bind(o.user_id)
    .bind(o.total)
    .bind(o.currency)
    .bind(o.commission_bps)
    .bind(o.operation_id)
    .bind(o.now)
    .execute(&mut *conn)
    .await?;
    for (i, l) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO order_lines (order_id, line_no, product_id, variant_id, club_id, name, size, unit_price, quantity)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(o.id)
        .bind(i as i64 + 1)
        .bind(&l.item.product_id)
        .bind(&l.item.variant_id)
        .bind(&l.item.club_id)
        .bind(&l.item.name)
        .bind(l.item.size.as_deref())
        .bind(l.price)
        .bind(l.item.quantity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A cancelled order's currency and the commission it was charged at; None
/// when the user has no such paid order.
pub(in crate::shop) async fn cancel_order(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
    now: i64,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE orders SET status = 'cancelled', updated_at = $3 WHERE id = $1 AND user_id = $2 AND status = 'paid'
         RETURNING currency, commission_bps",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// What an order line sold, for stock and refunds.
#[derive(sqlx::FromRow)]
pub(in crate::shop) struct SoldLine {
    pub variant_id: String,
    pub club_id: String,
    pub unit_price: i64,
    pub quantity: i64,
}

pub(in crate::shop) async fn sold_lines(
    conn: &mut AnyConnection,
    order_id: &str,
) -> Result<Vec<SoldLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT variant_id, club_id, unit_price, quantity FROM order_lines WHERE order_id = $1 ORDER BY line_no",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await
}

/// The clubs that sold something in an order.
pub(in crate::shop) async fn order_clubs(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    order_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT club_id FROM order_lines WHERE order_id = $1")
            .bind(order_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// `from` → `to`; false when the order was not in `from`.
pub(in crate::shop) async fn move_order(
    conn: &mut AnyConnection,
    id: &str,
    from: OrderStatus,
    to: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n =
        sqlx::query("UPDATE orders SET status = $2, updated_at = $4 WHERE id = $1 AND status = $3")
            .bind(id)
            .bind(to)
            .bind(from.as_str())
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected();
    Ok(n == 1)
}
