//! The catalogue fans browse.

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
        let mut products = catalogue_page(
            self.db.reader(),
            CatalogueFilter {
                club: q.club.as_deref().unwrap_or(""),
                category,
                text,
                pattern: &pattern,
                after_id: crate::http::validate::after_id(q.cursor.as_deref()),
                limit: limit + 1,
                offset,
            },
        )
        .await?;
        let next_cursor = crate::http::validate::next_page(&mut products, limit, |p| {
            crate::http::validate::id_cursor(&p.id)
        });
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
