//! The catalogue fans browse.

use sqlx::{AssertSqlSafe, Row};

use crate::shop::Shop;
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::shop::store::*;

impl Shop {
    pub async fn list_products(&self, q: &ProductQuery) -> Result<ProductList, ShopError> {
        let limit = q.limit.unwrap_or(20);
        let offset = if q.cursor.is_some() {
            0
        } else {
            q.offset.unwrap_or(0)
        };
        let category = q
            .category
            .as_deref()
            .filter(|c| !c.eq_ignore_ascii_case("all"))
            .unwrap_or("");
        let text = q.q.as_deref().map(str::trim).unwrap_or("");
        // LIKE wildcards typed by the fan are matched literally.
        let pattern = format!(
            "%{}%",
            text.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p
         WHERE p.active = 1 AND ($1 = '' OR p.club_id = $1) AND ($2 = '' OR LOWER(p.category) = LOWER($2))
           AND ($3 = '' OR LOWER(p.name) LIKE $4 ESCAPE '\\' OR LOWER(p.description) LIKE $4 ESCAPE '\\')
           AND ($5 = '' OR p.id > $5)
         ORDER BY p.id LIMIT $6 OFFSET $7"
    )))
    .bind(q.club.as_deref().unwrap_or(""))
    .bind(category)
    .bind(text)
    .bind(&pattern)
    .bind(q.cursor.as_deref().unwrap_or(""))
    .bind(limit + 1)
    .bind(offset)
    .fetch_all(self.db.reader())
    .await?;
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let mut variants = variants_of(self.db.reader(), &ids).await?;
        let mut products = rows
            .iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                product_from_row(r, variants.remove(&id).unwrap_or_default())
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let next_cursor = crate::http::validate::next_page(&mut products, limit, |p| p.id.clone());
        Ok(ProductList {
            products,
            next_cursor,
        })
    }

    /// An active product (inactive and unknown ones are 404 to fans).
    pub async fn product(&self, id: &str) -> Result<Product, ShopError> {
        match load_product(self.db.reader(), id).await? {
            Some(p) if p.active => Ok(p),
            _ => Err(ShopError::NotFound("product")),
        }
    }
}
