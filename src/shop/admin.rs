//! Staff of a club (and admins) manage its products.

use crate::db::{new_id, now_ms};
use crate::domain::{Caller, Invalid};
use crate::infra::readmodel::Topic;
use crate::shop::Shop;
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::shop::store::{self, NewProductRow, ProductChanges, load_product};
use crate::wallet::error::amount_invalid;
use crate::wallet::money::Currency;

impl Shop {
    async fn club_currency(&self, club: &str) -> Result<Currency, ShopError> {
        let code = store::club_currency(self.db.reader(), club)
            .await?
            .ok_or_else(|| Invalid::field("clubId", "unknown_club", format!("no club {club}")))?;
        Ok(Currency::stored(&code)?)
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
        store::insert_product(
            tx.conn(),
            NewProductRow {
                id: &id,
                club_id: &p.club_id,
                name: p.name.trim(),
                category: &p.category.trim().to_lowercase(),
                description: p.description.as_deref().unwrap_or("").trim(),
                image_url: p.image_url.as_deref(),
                price,
                currency: currency.code(),
                now,
            },
        )
        .await?;
        let variants = p.variants.unwrap_or_else(|| {
            vec![NewVariant {
                size: None,
                stock: 0,
            }]
        });
        for (i, v) in variants.iter().enumerate() {
            store::insert_variant(tx.conn(), &id, v.size.as_deref(), v.stock, i as i64).await?;
        }
        tx.commit().await?;
        self.read.changed(Topic::Products);
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
        store::update_product(
            tx.conn(),
            id,
            ProductChanges {
                name: u.name.as_deref().map(str::trim),
                category: u.category.as_deref().map(|c| c.trim().to_lowercase()),
                description: u.description.as_deref().map(str::trim),
                image_url: u.image_url.as_deref(),
                price,
                active: u.active,
                now: now_ms(),
            },
        )
        .await?;
        for (i, v) in u.variants.iter().flatten().enumerate() {
            match &v.id {
                Some(vid) => {
                    let found =
                        store::update_variant(tx.conn(), id, vid, v.stock, v.size.as_deref())
                            .await?;
                    if !found {
                        return Err(Invalid::field(
                            &format!("variants[{i}].id"),
                            "unknown_variant",
                            "not a variant of this product",
                        )
                        .into());
                    }
                }
                None => {
                    store::insert_variant(tx.conn(), id, v.size.as_deref(), v.stock, 100 + i as i64)
                        .await?
                }
            }
        }
        tx.commit().await?;
        self.read.changed(Topic::Products);
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
