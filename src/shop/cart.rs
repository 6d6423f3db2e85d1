//! A fan's cart: sized items, quantities checked against the stock.

use crate::db::now_ms;
use crate::domain::Invalid;
use crate::shop::Shop;
use crate::shop::error::ShopError;
use crate::shop::error::Shortage;
use crate::shop::model::*;
use crate::shop::store::{self, CART_QUANTITY, cart_lines};
use crate::wallet::money::{Currency, format_minor};

impl Shop {
    pub async fn cart(&self, user_id: &str) -> Result<Cart, ShopError> {
        let lines = cart_lines(self.db.reader(), user_id).await?;
        let currencies: std::collections::BTreeSet<Currency> =
            lines.iter().map(|l| l.currency).collect();
        let (total, currency) = match currencies.iter().next() {
            Some(c) if currencies.len() == 1 => {
                let sum: i64 = lines.iter().map(|l| l.price * l.item.quantity).sum();
                (Some(format_minor(sum, *c)), Some(c.code().to_owned()))
            }
            Some(_) => (None, None),
            None => (Some("0.00".to_owned()), None),
        };
        Ok(Cart {
            item_count: lines.iter().map(|l| l.item.quantity).sum(),
            items: lines.into_iter().map(|l| l.item).collect(),
            total,
            currency,
        })
    }

    pub async fn add_to_cart(&self, user_id: &str, body: AddToCart) -> Result<Cart, ShopError> {
        let product = self.product(&body.product_id).await?;
        let variant = match (&body.variant_id, product.variants.as_slice()) {
            (Some(id), vs) => vs.iter().find(|v| &v.id == id).ok_or_else(|| {
                Invalid::field(
                    "variantId",
                    "unknown_variant",
                    "not a variant of this product",
                )
            })?,
            (None, [only]) => only,
            (None, _) => {
                return Err(Invalid::field(
                    "variantId",
                    "required",
                    "this product comes in several sizes: choose one",
                )
                .into());
            }
        };
        let quantity = body.quantity.unwrap_or(1);
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        // Adding to an existing line sums the quantities; the CHECK keeps a line at 10.
        let added = store::add_to_cart(tx.conn(), user_id, &variant.id, quantity, now).await;
        let line_quantity = match added {
            Ok(q) => q,
            Err(e) if CART_QUANTITY.violated_by(&e) => {
                return Err(Invalid::field(
                    "quantity",
                    "out_of_range",
                    "a cart line holds at most 10",
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        if line_quantity > variant.stock {
            return Err(ShopError::OutOfStock {
                message: format!("only {} left of {}", variant.stock, product.name),
                shortage: Shortage {
                    item_id: None,
                    variant_id: variant.id.clone(),
                    available: variant.stock,
                },
            });
        }
        tx.commit().await?;
        self.cart(user_id).await
    }

    pub async fn update_cart_item(
        &self,
        user_id: &str,
        item_id: &str,
        quantity: i64,
    ) -> Result<Cart, ShopError> {
        let lines = cart_lines(self.db.reader(), user_id).await?;
        let line = lines
            .iter()
            .find(|l| l.item.id == item_id)
            .ok_or(ShopError::NotFound("cart item"))?;
        if quantity > line.stock {
            return Err(ShopError::OutOfStock {
                message: format!("only {} left", line.stock),
                shortage: Shortage {
                    item_id: None,
                    variant_id: line.item.variant_id.clone(),
                    available: line.stock,
                },
            });
        }
        let mut tx = self.db.begin_write().await?;
        let found =
            store::set_cart_quantity(tx.conn(), user_id, item_id, quantity, now_ms()).await?;
        tx.commit().await?;
        if !found {
            return Err(ShopError::NotFound("cart item"));
        }
        self.cart(user_id).await
    }

    pub async fn remove_cart_item(&self, user_id: &str, item_id: &str) -> Result<Cart, ShopError> {
        let mut tx = self.db.begin_write().await?;
        let found = store::remove_cart_item(tx.conn(), user_id, item_id).await?;
        tx.commit().await?;
        if !found {
            return Err(ShopError::NotFound("cart item"));
        }
        self.cart(user_id).await
    }
}
