//! Staff of a club (and admins) manage its products.

use sqlx::{AnyConnection, Row};

use crate::db::{new_id, now_ms};
use crate::domain::{Caller, Invalid};
use crate::shop::Shop;
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::shop::store::*;
use crate::wallet::error::amount_invalid;
use crate::wallet::money::Currency;

async fn insert_variant(
    conn: &mut AnyConnection,
    product_id: &str,
    size: Option<&str>,
    stock: i64,
    position: i64,
) -> Result<(), ShopError> {
    sqlx::query("INSERT INTO product_variants (id, product_id, size, stock, position) VALUES ($1, $2, $3, $4, $5)")
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

impl Shop {
    async fn club_currency(&self, club: &str) -> Result<Currency, ShopError> {
        let row = sqlx::query("SELECT currency FROM clubs WHERE id = $1")
            .bind(club)
            .fetch_optional(self.db.reader())
            .await?
            .ok_or_else(|| Invalid::field("clubId", "unknown_club", format!("no club {club}")))?;
        Ok(Currency::stored(&row.try_get::<String, _>("currency")?)?)
    }

    pub async fn create_product(&self, user: &Caller, p: NewProduct) -> Result<Product, ShopError> {
        user.require_staff_of(&p.club_id)?;
        let currency = self.club_currency(&p.club_id).await?;
        let price = p
            .price
            .parse(currency)
            .map_err(|e| amount_invalid("price", e))?;
        let id = new_id();
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
        "INSERT INTO products (id, club_id, name, category, description, image_url, price, currency, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)",
    )
    .bind(&id)
    .bind(&p.club_id)
    .bind(p.name.trim())
    .bind(p.category.trim().to_lowercase())
    .bind(p.description.as_deref().unwrap_or("").trim())
    .bind(p.image_url.as_deref())
    .bind(price)
    .bind(currency.code())
    .bind(now)
    .execute(tx.conn())
    .await?;
        let variants = p.variants.unwrap_or_else(|| {
            vec![NewVariant {
                size: None,
                stock: 0,
            }]
        });
        for (i, v) in variants.iter().enumerate() {
            insert_variant(tx.conn(), &id, v.size.as_deref(), v.stock, i as i64).await?;
        }
        tx.commit().await?;
        load_product(self.db.reader(), &id)
            .await?
            .ok_or_else(|| ShopError::Internal("product vanished".into()))
    }

    pub async fn update_product(
        &self,
        user: &Caller,
        id: &str,
        u: UpdateProduct,
    ) -> Result<Product, ShopError> {
        let existing = load_product(self.db.reader(), id)
            .await?
            .ok_or(ShopError::NotFound("product"))?;
        user.require_staff_of(&existing.club_id)?;
        let currency = Currency::stored(&existing.currency)?;
        let price = u
            .price
            .as_ref()
            .map(|p| p.parse(currency).map_err(|e| amount_invalid("price", e)))
            .transpose()?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE products SET name = COALESCE($2, name), category = COALESCE($3, category),
                description = COALESCE($4, description), image_url = COALESCE($5, image_url),
                price = COALESCE($6, price), active = COALESCE($7, active), updated_at = $8
         WHERE id = $1",
        )
        .bind(id)
        .bind(u.name.as_deref().map(str::trim))
        .bind(u.category.as_deref().map(|c| c.trim().to_lowercase()))
        .bind(u.description.as_deref().map(str::trim))
        .bind(u.image_url.as_deref())
        .bind(price)
        .bind(u.active.map(i64::from))
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        for (i, v) in u.variants.iter().flatten().enumerate() {
            match &v.id {
                Some(vid) => {
                    let n = sqlx::query("UPDATE product_variants SET stock = $3, size = COALESCE($4, size) WHERE id = $1 AND product_id = $2")
                    .bind(vid)
                    .bind(id)
                    .bind(v.stock)
                    .bind(v.size.as_deref())
                    .execute(tx.conn())
                    .await?
                    .rows_affected();
                    if n == 0 {
                        return Err(Invalid::field(
                            &format!("variants[{i}].id"),
                            "unknown_variant",
                            "not a variant of this product",
                        )
                        .into());
                    }
                }
                None => {
                    insert_variant(tx.conn(), id, v.size.as_deref(), v.stock, 100 + i as i64)
                        .await?
                }
            }
        }
        tx.commit().await?;
        load_product(self.db.reader(), id)
            .await?
            .ok_or(ShopError::NotFound("product"))
    }

    pub async fn deactivate_product(&self, user: &Caller, id: &str) -> Result<Product, ShopError> {
        self.update_product(
            user,
            id,
            UpdateProduct {
                name: None,
                category: None,
                description: None,
                image_url: None,
                price: None,
                active: Some(false),
                variants: None,
            },
        )
        .await
    }
}
