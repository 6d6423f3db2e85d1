//! The catalogue fans browse, answered from memory (see `infra::readmodel`).

use std::sync::Arc;

use crate::http::validate::{after_id, id_cursor, next_page};
use crate::infra::readmodel::Rendered;
use crate::shop::Shop;
use crate::shop::error::ShopError;
use crate::shop::model::*;
use crate::shop::store::*;

impl Shop {
    /// Every active product, as the catalogue's snapshot holds it.
    async fn on_sale(
        &self,
    ) -> Result<Arc<crate::infra::readmodel::Snapshot<Vec<Product>>>, ShopError> {
        self.on_sale
            .get(|| async { products_on_sale(self.db.snapshots()).await })
            .await
    }

    /// A page of the catalogue, rendered once per query and snapshot.
    pub async fn list_products(&self, q: &ProductQuery) -> Result<Arc<Rendered>, ShopError> {
        let limit = q.limit.unwrap_or(20);
        let offset = if q.cursor.is_some() {
            0
        } else {
            q.offset.unwrap_or(0)
        };
        let club = q.club.as_deref().unwrap_or("");
        let category = q
            .category
            .as_deref()
            .filter(|c| !c.eq_ignore_ascii_case("all"))
            .unwrap_or("")
            .to_lowercase();
        let text = q.q.as_deref().map(str::trim).unwrap_or("").to_lowercase();
        let after = after_id(q.cursor.as_deref());
        let key = [
            club,
            &category,
            &text,
            after,
            &limit.to_string(),
            &offset.to_string(),
        ]
        .join("\u{1f}");
        let snapshot = self.on_sale().await?;
        let rendered = snapshot.rendered(&key, |all| {
            let mut products: Vec<Product> = all
                .iter()
                .filter(|p| club.is_empty() || p.club_id == club)
                .filter(|p| category.is_empty() || p.category.to_lowercase() == category)
                .filter(|p| {
                    text.is_empty()
                        || p.name.to_lowercase().contains(&text)
                        || p.description.to_lowercase().contains(&text)
                })
                .filter(|p| after.is_empty() || p.id.as_str() > after)
                .skip(usize::try_from(offset).unwrap_or(0))
                .take(usize::try_from(limit + 1).unwrap_or(usize::MAX))
                .cloned()
                .collect();
            let next_cursor = next_page(&mut products, limit, |p| id_cursor(&p.id));
            ProductList {
                products,
                next_cursor,
            }
        });
        rendered.map_err(|e| ShopError::Internal(e.to_string()))
    }

    /// An active product (inactive and unknown ones are 404 to fans).
    pub async fn product(&self, id: &str) -> Result<Product, ShopError> {
        let snapshot = self.on_sale().await?;
        match snapshot.data.binary_search_by(|p| p.id.as_str().cmp(id)) {
            Ok(i) => Ok(snapshot.data[i].clone()),
            Err(_) => Err(ShopError::NotFound("product")),
        }
    }
}
