//! v1.0's six products, spread over the demo clubs (called from `crate::demo`).

use sqlx::Row;

use crate::app::AppState;
use crate::db::{new_id, now_ms};

/// (club, name, category, description, price in minor units, sizes with stock)
type DemoProduct = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    &'static [(Option<&'static str>, i64)],
);

const PRODUCTS: &[DemoProduct] = &[
    (
        "AS_MONACO",
        "Maillot Domicile 2025/26",
        "jerseys",
        "Le maillot rouge et blanc officiel de l'AS Monaco.",
        8_999,
        &[
            (Some("S"), 10),
            (Some("M"), 10),
            (Some("L"), 10),
            (Some("XL"), 6),
        ],
    ),
    (
        "PSG",
        "Maillot Extérieur 2025/26",
        "jerseys",
        "Maillot extérieur officiel du Paris Saint-Germain.",
        9_999,
        &[
            (Some("S"), 8),
            (Some("M"), 8),
            (Some("L"), 8),
            (Some("XL"), 4),
        ],
    ),
    (
        "OM",
        "Écharpe Virage Sud",
        "accessories",
        "Écharpe tricotée aux couleurs de l'OM.",
        2_499,
        &[(None, 30)],
    ),
    (
        "OL",
        "Casquette officielle",
        "accessories",
        "Casquette brodée Olympique Lyonnais.",
        2_999,
        &[(None, 25)],
    ),
    (
        "WYDAD_AC",
        "Ballon officiel",
        "equipment",
        "Ballon taille 5 du Wydad AC.",
        35_000,
        &[(None, 15)],
    ),
    (
        "AS_MONACO",
        "Sweat à capuche",
        "apparel",
        "Sweat à capuche molletonné AS Monaco.",
        6_999,
        &[(Some("M"), 12), (Some("L"), 12)],
    ),
];

pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let now = now_ms();
    for (club, name, category, description, price, sizes) in PRODUCTS {
        let exists = sqlx::query("SELECT 1 FROM products WHERE club_id = $1 AND name = $2")
            .bind(*club)
            .bind(*name)
            .fetch_optional(state.db.reader())
            .await?;
        if exists.is_some() {
            continue;
        }
        let currency: String = sqlx::query("SELECT currency FROM clubs WHERE id = $1")
            .bind(*club)
            .fetch_one(state.db.reader())
            .await?
            .try_get("currency")?;
        let id = new_id();
        let mut tx = state.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO products (id, club_id, name, category, description, image_url, price, currency, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)",
        )
        .bind(&id)
        .bind(*club)
        .bind(*name)
        .bind(*category)
        .bind(*description)
        // No image hosting yet: no URL rather than a broken one.
        .bind(None::<String>)
        .bind(*price)
        .bind(&currency)
        .bind(now)
        .execute(tx.conn())
        .await?;
        for (i, (size, stock)) in sizes.iter().enumerate() {
            sqlx::query("INSERT INTO product_variants (id, product_id, size, stock, position) VALUES ($1, $2, $3, $4, $5)")
                .bind(new_id())
                .bind(&id)
                .bind(*size)
                .bind(*stock)
                .bind(i as i64)
                .execute(tx.conn())
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
