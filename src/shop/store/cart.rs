//! Carts.

use crate::db::new_id;
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::wallet::money::{Currency, format_minor};
use sqlx::AnyConnection;

#[derive(sqlx::FromRow)]
struct CartRow {
    id: String,
    quantity: i64,
    created_at: i64,
    variant_id: String,
    size: Option<String>,
    stock: i64,
    product_id: String,
    club_id: String,
    name: String,
    price: i64,
    currency: String,
    active: i64,
}

/// A cart line with what checkout needs besides the view.
pub(in crate::shop) struct CartLine {
    pub item: CartItem,
    pub price: i64,
    pub currency: Currency,
    pub stock: i64,
    pub active: bool,
}

pub(in crate::shop) async fn cart_lines(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Vec<CartLine>, ShopError> {
    let rows: Vec<CartRow> = sqlx::query_as(
        "SELECT ci.id, ci.quantity, ci.created_at, v.id AS variant_id, v.size, v.stock, p.id AS product_id, p.club_id, p.name,
                p.price, p.currency, p.active
         FROM cart_items ci
         JOIN product_variants v ON v.id = ci.variant_id
         JOIN products p ON p.id = v.product_id
         WHERE ci.user_id = $1
         ORDER BY ci.created_at, ci.id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let cur = Currency::stored(&r.currency)?;
            let active = r.active != 0;
            Ok(CartLine {
                item: CartItem {
                    id: r.id,
                    product_id: r.product_id,
                    variant_id: r.variant_id,
                    club_id: r.club_id,
                    name: r.name,
                    size: r.size,
                    unit_price: format_minor(r.price, cur),
                    quantity: r.quantity,
                    line_total: format_minor(r.price * r.quantity, cur),
                    currency: cur.code().to_owned(),
                    available: active && r.stock >= r.quantity,
                    added_at: crate::db::rfc3339(r.created_at),
                },
                price: r.price,
                currency: cur,
                stock: r.stock,
                active,
            })
        })
        .collect()
}

/// Adds to a cart line (or creates it); the line's new quantity.
pub(in crate::shop) async fn add_to_cart(
    conn: &mut AnyConnection,
    user_id: &str,
    variant_id: &str,
    quantity: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (q,): (i64,) = sqlx::query_as(
        "INSERT INTO cart_items (id, user_id, variant_id, quantity, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (user_id, variant_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity,
                                                        updated_at = excluded.updated_at
         RETURNING quantity",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(variant_id)
    .bind(quantity)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(q)
}

/// False when the user has no such line.
pub(in crate::shop) async fn set_cart_quantity(
    conn: &mut AnyConnection,
    user_id: &str,
    item_id: &str,
    quantity: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE cart_items SET quantity = $3, updated_at = $4 WHERE id = $1 AND user_id = $2",
    )
    .bind(item_id)
    .bind(user_id)
    .bind(quantity)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// False when the user has no such line.
pub(in crate::shop) async fn remove_cart_item(
    conn: &mut AnyConnection,
    user_id: &str,
    item_id: &str,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("DELETE FROM cart_items WHERE id = $1 AND user_id = $2")
        .bind(item_id)
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

pub(in crate::shop) async fn empty_cart(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_items WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}
