//! All of the shop's SQL: products with their sized variants, cart lines,
//! orders and their lines. Rows are read into `FromRow` structs.

mod cart;
mod orders;

pub(in crate::shop) use cart::*;
pub(in crate::shop) use orders::*;

use std::collections::BTreeMap;

use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::{Constraint, new_id};
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::wallet::money::{Currency, format_minor};

/// The constraints whose violations the shop answers as refusals.
pub(super) const VARIANT_SIZE: Constraint = Constraint::unique(
    "product_variants_size_key",
    "product_variants.product_id, product_variants.size",
);
pub(super) const CART_QUANTITY: Constraint = Constraint::check("cart_items_quantity_check");

const PRODUCT_COLUMNS: &str = "p.id, p.club_id, p.name, p.category, p.description, p.image_url, p.price, p.compare_at_price, p.currency, p.active";

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: String,
    club_id: String,
    name: String,
    category: String,
    description: String,
    image_url: Option<String>,
    price: i64,
    compare_at_price: Option<i64>,
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
            compare_at_price: self
                .compare_at_price
                .filter(|was| *was > self.price)
                .map(|was| format_minor(was, cur)),
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

/// Every active product with its variants, by id (the catalogue's snapshot).
pub(super) async fn products_on_sale(
    conn: impl sqlx::Executor<'_, Database = sqlx::Any> + Copy,
) -> Result<Vec<Product>, ShopError> {
    let rows: Vec<ProductRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.active = 1"
    )))
    .fetch_all(conn)
    .await?;
    // One query for all the variants: a list of ids would outgrow the
    // engines' limit on bound parameters in a large catalogue.
    let mut variants: BTreeMap<String, Vec<Variant>> = BTreeMap::new();
    let all: Vec<VariantRow> = sqlx::query_as(
        "SELECT v.id, v.product_id, v.size, v.stock FROM product_variants v
         JOIN products p ON p.id = v.product_id WHERE p.active = 1 ORDER BY v.position, v.id",
    )
    .fetch_all(conn)
    .await?;
    for r in all {
        variants.entry(r.product_id).or_default().push(Variant {
            id: r.id,
            size: r.size,
            stock: r.stock,
        });
    }
    let mut products = rows
        .into_iter()
        .map(|r| {
            let v = variants.remove(&r.id).unwrap_or_default();
            r.into_product(v)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Byte order, as cursors compare ids, whatever the database's collation.
    products.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(products)
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
