//! The shop's SQL: products with their sized variants, cart lines, orders.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};

use crate::db::{Constraint, rfc3339};
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::wallet::money::{Currency, format_minor};

/// The constraints whose violations the shop answers as refusals.
pub(super) const VARIANT_SIZE: Constraint = Constraint::unique(
    "product_variants_size_key",
    "product_variants.product_id, product_variants.size",
);
pub(super) const CART_QUANTITY: Constraint = Constraint::check("cart_items_quantity_check");

pub(super) fn currency_of(code: &str) -> Result<Currency, sqlx::Error> {
    Ok(Currency::stored(code)?)
}

pub(super) const PRODUCT_COLUMNS: &str = "p.id, p.club_id, p.name, p.category, p.description, p.image_url, p.price, p.currency, p.active";

pub(super) async fn variants_of(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    ids: &[String],
) -> Result<BTreeMap<String, Vec<Variant>>, sqlx::Error> {
    let mut by_product: BTreeMap<String, Vec<Variant>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(by_product);
    }
    // Placeholders only: the ids are bound, never spliced into the SQL.
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, product_id, size, stock FROM product_variants WHERE product_id IN ({}) ORDER BY position, id",
        marks.join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(conn).await? {
        by_product
            .entry(r.try_get("product_id")?)
            .or_default()
            .push(Variant {
                id: r.try_get("id")?,
                size: r.try_get("size")?,
                stock: r.try_get("stock")?,
            });
    }
    Ok(by_product)
}

pub(super) fn product_from_row(r: &AnyRow, variants: Vec<Variant>) -> Result<Product, sqlx::Error> {
    let cur = currency_of(&r.try_get::<String, _>("currency")?)?;
    Ok(Product {
        id: r.try_get("id")?,
        club_id: r.try_get("club_id")?,
        name: r.try_get("name")?,
        category: r.try_get("category")?,
        description: r.try_get("description")?,
        image_url: r.try_get("image_url")?,
        price: format_minor(r.try_get("price")?, cur),
        currency: cur.code().to_owned(),
        active: r.try_get::<i64, _>("active")? != 0,
        in_stock: variants.iter().any(|v| v.stock > 0),
        variants,
    })
}

pub(super) async fn load_product(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    id: &str,
) -> Result<Option<Product>, ShopError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut v = variants_of(conn, &[id.to_owned()]).await?;
    Ok(Some(product_from_row(
        &row,
        v.remove(id).unwrap_or_default(),
    )?))
}

pub(super) const CART_SQL: &str = "
SELECT ci.id, ci.quantity, v.id AS variant_id, v.size, v.stock, p.id AS product_id, p.club_id, p.name,
       p.price, p.currency, p.active
FROM cart_items ci
JOIN product_variants v ON v.id = ci.variant_id
JOIN products p ON p.id = v.product_id
WHERE ci.user_id = $1
ORDER BY ci.created_at, ci.id";

pub(super) struct CartLine {
    pub(super) item: CartItem,
    pub(super) price: i64,
    pub(super) currency: Currency,
    pub(super) stock: i64,
    pub(super) active: bool,
}

pub(super) async fn cart_lines(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Vec<CartLine>, ShopError> {
    let rows = sqlx::query(CART_SQL).bind(user_id).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let cur = currency_of(&r.try_get::<String, _>("currency")?)?;
            let price: i64 = r.try_get("price")?;
            let quantity: i64 = r.try_get("quantity")?;
            let stock: i64 = r.try_get("stock")?;
            let active = r.try_get::<i64, _>("active")? != 0;
            Ok(CartLine {
                item: CartItem {
                    id: r.try_get("id")?,
                    product_id: r.try_get("product_id")?,
                    variant_id: r.try_get("variant_id")?,
                    club_id: r.try_get("club_id")?,
                    name: r.try_get("name")?,
                    size: r.try_get("size")?,
                    unit_price: format_minor(price, cur),
                    quantity,
                    line_total: format_minor(price * quantity, cur),
                    currency: cur.code().to_owned(),
                    available: active && stock >= quantity,
                },
                price,
                currency: cur,
                stock,
                active,
            })
        })
        .collect()
}

pub(super) const ORDER_SQL: &str =
    "SELECT id, status, total, currency, created_at, updated_at FROM orders";

pub(super) async fn orders_with_lines(
    conn: &mut AnyConnection,
    rows: Vec<AnyRow>,
) -> Result<Vec<Order>, ShopError> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let cur = currency_of(&r.try_get::<String, _>("currency")?)?;
        let lines = sqlx::query(
            "SELECT product_id, variant_id, club_id, name, size, unit_price, quantity FROM order_lines
             WHERE order_id = $1 ORDER BY line_no",
        )
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|l| {
            let unit: i64 = l.try_get("unit_price")?;
            let q: i64 = l.try_get("quantity")?;
            Ok(OrderLine {
                product_id: l.try_get("product_id")?,
                variant_id: l.try_get("variant_id")?,
                club_id: l.try_get("club_id")?,
                name: l.try_get("name")?,
                size: l.try_get("size")?,
                unit_price: format_minor(unit, cur),
                quantity: q,
                line_total: format_minor(unit * q, cur),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.push(Order {
            id,
            status: OrderStatus::stored(&r.try_get::<String, _>("status")?)?,
            lines,
            total: format_minor(r.try_get("total")?, cur),
            currency: cur.code().to_owned(),
            created_at: rfc3339(r.try_get("created_at")?),
            updated_at: rfc3339(r.try_get("updated_at")?),
        });
    }
    Ok(out)
}

pub(super) async fn load_order(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(Order, String)>, ShopError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT user_id, {} WHERE id = $1",
        &ORDER_SQL[7..]
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let owner: String = row.try_get("user_id")?;
    let order = orders_with_lines(conn, vec![row]).await?.pop();
    Ok(order.map(|o| (o, owner)))
}
