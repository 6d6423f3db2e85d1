//! All of the shop's SQL: products with their sized variants, cart lines,
//! orders and their lines. Rows are read into `FromRow` structs.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::{Constraint, new_id, rfc3339};
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::wallet::money::{Currency, format_minor};

/// The constraints whose violations the shop answers as refusals.
pub(super) const VARIANT_SIZE: Constraint = Constraint::unique(
    "product_variants_size_key",
    "product_variants.product_id, product_variants.size",
);
pub(super) const CART_QUANTITY: Constraint = Constraint::check("cart_items_quantity_check");

const PRODUCT_COLUMNS: &str = "p.id, p.club_id, p.name, p.category, p.description, p.image_url, p.price, p.currency, p.active";

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: String,
    club_id: String,
    name: String,
    category: String,
    description: String,
    image_url: Option<String>,
    price: i64,
    currency: String,
    active: i64,
}

impl ProductRow {
    fn into_product(self, variants: Vec<Variant>) -> Result<Product, ShopError> {
        let cur = Currency::stored(&self.currency)?;
        Ok(Product {
            id: self.id,
            club_id: self.club_id,
            name: self.name,
            category: self.category,
            description: self.description,
            image_url: self.image_url,
            price: format_minor(self.price, cur),
            currency: cur.code().to_owned(),
            active: self.active != 0,
            in_stock: variants.iter().any(|v| v.stock > 0),
            variants,
        })
    }
}

#[derive(sqlx::FromRow)]
struct VariantRow {
    id: String,
    product_id: String,
    size: Option<String>,
    stock: i64,
}

async fn variants_of(
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
    let mut q = sqlx::query_as::<_, VariantRow>(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(conn).await? {
        by_product.entry(r.product_id).or_default().push(Variant {
            id: r.id,
            size: r.size,
            stock: r.stock,
        });
    }
    Ok(by_product)
}

async fn with_variants(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    rows: Vec<ProductRow>,
) -> Result<Vec<Product>, ShopError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut variants = variants_of(conn, &ids).await?;
    rows.into_iter()
        .map(|r| {
            let v = variants.remove(&r.id).unwrap_or_default();
            r.into_product(v)
        })
        .collect()
}

/// What the catalogue is filtered by (empty strings: no filter).
pub(super) struct CatalogueFilter<'a> {
    pub club: &'a str,
    pub category: &'a str,
    /// The fan's search text, and its `LIKE` pattern with wildcards escaped.
    pub text: &'a str,
    pub pattern: &'a str,
    pub after_id: &'a str,
    pub limit: i64,
    pub offset: i64,
}

/// Active products, by id.
pub(super) async fn catalogue_page(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    f: CatalogueFilter<'_>,
) -> Result<Vec<Product>, ShopError> {
    let rows: Vec<ProductRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p
         WHERE p.active = 1 AND ($1 = '' OR p.club_id = $1) AND ($2 = '' OR LOWER(p.category) = LOWER($2))
           AND ($3 = '' OR LOWER(p.name) LIKE $4 ESCAPE '\\' OR LOWER(p.description) LIKE $4 ESCAPE '\\')
           AND ($5 = '' OR p.id > $5)
         ORDER BY p.id LIMIT $6 OFFSET $7"
    )))
    .bind(f.club)
    .bind(f.category)
    .bind(f.text)
    .bind(f.pattern)
    .bind(f.after_id)
    .bind(f.limit)
    .bind(f.offset)
    .fetch_all(conn)
    .await?;
    with_variants(conn, rows).await
}

/// A product, active or not, with its variants.
pub(super) async fn load_product(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
    id: &str,
) -> Result<Option<Product>, ShopError> {
    let row: Option<ProductRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(with_variants(conn, vec![row]).await?.pop()),
    }
}

pub(super) async fn club_currency(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    club_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT currency FROM clubs WHERE id = $1")
        .bind(club_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}

pub(super) struct NewProductRow<'a> {
    pub id: &'a str,
    pub club_id: &'a str,
    pub name: &'a str,
    pub category: &'a str,
    pub description: &'a str,
    pub image_url: Option<&'a str>,
    pub price: i64,
    pub currency: &'a str,
    pub now: i64,
}

pub(super) async fn insert_product(
    conn: &mut AnyConnection,
    p: NewProductRow<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO products (id, club_id, name, category, description, image_url, price, currency, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)",
    )
    .bind(p.id)
    .bind(p.club_id)
    .bind(p.name)
    .bind(p.category)
    .bind(p.description)
    .bind(p.image_url)
    .bind(p.price)
    .bind(p.currency)
    .bind(p.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// What an edit changes (None: unchanged).
pub(super) struct ProductChanges<'a> {
    pub name: Option<&'a str>,
    pub category: Option<String>,
    pub description: Option<&'a str>,
    pub image_url: Option<&'a str>,
    pub price: Option<i64>,
    pub active: Option<bool>,
    pub now: i64,
}

pub(super) async fn update_product(
    conn: &mut AnyConnection,
    id: &str,
    c: ProductChanges<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE products SET name = COALESCE($2, name), category = COALESCE($3, category),
                description = COALESCE($4, description), image_url = COALESCE($5, image_url),
                price = COALESCE($6, price), active = COALESCE($7, active), updated_at = $8
         WHERE id = $1",
    )
    .bind(id)
    .bind(c.name)
    .bind(c.category)
    .bind(c.description)
    .bind(c.image_url)
    .bind(c.price)
    .bind(c.active.map(i64::from))
    .bind(c.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new size of a product; a size it already has is `VariantExists`.
pub(super) async fn insert_variant(
    conn: &mut AnyConnection,
    product_id: &str,
    size: Option<&str>,
    stock: i64,
    position: i64,
) -> Result<(), ShopError> {
    sqlx::query(
        "INSERT INTO product_variants (id, product_id, size, stock, position) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(product_id)
    .bind(size.map(str::trim))
    .bind(stock)
    .bind(position)
    .execute(conn)
    .await
    .map_err(|e| {
        if VARIANT_SIZE.violated_by(&e) {
            ShopError::VariantExists
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// False when the product has no such variant.
pub(super) async fn update_variant(
    conn: &mut AnyConnection,
    product_id: &str,
    variant_id: &str,
    stock: i64,
    size: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE product_variants SET stock = $3, size = COALESCE($4, size) WHERE id = $1 AND product_id = $2",
    )
    .bind(variant_id)
    .bind(product_id)
    .bind(stock)
    .bind(size)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Takes `quantity` from a variant's stock if there is that much; else
/// answers how many are left.
pub(super) async fn take_stock(
    conn: &mut AnyConnection,
    variant_id: &str,
    quantity: i64,
) -> Result<Result<(), i64>, sqlx::Error> {
    let taken =
        sqlx::query("UPDATE product_variants SET stock = stock - $2 WHERE id = $1 AND stock >= $2")
            .bind(variant_id)
            .bind(quantity)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if taken == 1 {
        return Ok(Ok(()));
    }
    let (left,): (i64,) = sqlx::query_as("SELECT stock FROM product_variants WHERE id = $1")
        .bind(variant_id)
        .fetch_one(conn)
        .await?;
    Ok(Err(left))
}

pub(super) async fn return_stock(
    conn: &mut AnyConnection,
    variant_id: &str,
    quantity: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE product_variants SET stock = stock + $2 WHERE id = $1")
        .bind(variant_id)
        .bind(quantity)
        .execute(conn)
        .await?;
    Ok(())
}

// Carts.

#[derive(sqlx::FromRow)]
struct CartRow {
    id: String,
    quantity: i64,
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
pub(super) struct CartLine {
    pub item: CartItem,
    pub price: i64,
    pub currency: Currency,
    pub stock: i64,
    pub active: bool,
}

pub(super) async fn cart_lines(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user_id: &str,
) -> Result<Vec<CartLine>, ShopError> {
    let rows: Vec<CartRow> = sqlx::query_as(
        "SELECT ci.id, ci.quantity, v.id AS variant_id, v.size, v.stock, p.id AS product_id, p.club_id, p.name,
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
pub(super) async fn add_to_cart(
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
pub(super) async fn set_cart_quantity(
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
pub(super) async fn remove_cart_item(
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

pub(super) async fn empty_cart(conn: &mut AnyConnection, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_items WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

// Orders.

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
pub(super) async fn load_order(
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
pub(super) async fn orders_of(
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

pub(super) struct NewOrder<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub total: i64,
    pub currency: &'a str,
    pub commission_bps: i64,
    pub operation_id: &'a str,
    pub now: i64,
}

/// A paid order and its lines (the cart's, with the prices charged).
pub(super) async fn insert_order(
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
pub(super) async fn cancel_order(
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
pub(super) struct SoldLine {
    pub variant_id: String,
    pub club_id: String,
    pub unit_price: i64,
    pub quantity: i64,
}

pub(super) async fn sold_lines(
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
pub(super) async fn order_clubs(
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
pub(super) async fn move_order(
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
