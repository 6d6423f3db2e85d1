//! v1.0's six products at AS Monaco, and more around them (called from `crate::demo`).

use sqlx::Row;

use crate::app::AppState;
use crate::db::{new_id, now_ms};

/// (club, name, category, description, price and price before reduction in
/// minor units, sizes with stock)
type DemoProduct = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    Option<i64>,
    &'static [(Option<&'static str>, i64)],
);

const PRODUCTS: &[DemoProduct] = &[
    // v1.0's six, at AS Monaco, sold without a size as v1.0 sold them.
    (
        "AS_MONACO",
        "Maillot Domicile 2025/26",
        "jerseys",
        "Le maillot rouge et blanc officiel de l'AS Monaco.",
        7_999,
        Some(9_999),
        &[(None, 50)],
    ),
    (
        "AS_MONACO",
        "Casquette Officielle",
        "accessories",
        "Casquette brodée aux couleurs de l'AS Monaco.",
        2_499,
        Some(2_999),
        &[(None, 80)],
    ),
    (
        "AS_MONACO",
        "Veste d'Entraînement",
        "training",
        "La veste d'entraînement des joueurs de l'AS Monaco.",
        8_999,
        None,
        &[(None, 30)],
    ),
    (
        "AS_MONACO",
        "Écharpe Supporter",
        "accessories",
        "Écharpe tricotée rouge et blanche.",
        1_499,
        Some(1_999),
        &[(None, 150)],
    ),
    (
        "AS_MONACO",
        "NFT Édition Limitée",
        "nft",
        "Objet numérique de collection, édition limitée à dix exemplaires.",
        19_999,
        None,
        &[(None, 10)],
    ),
    (
        "AS_MONACO",
        "Ballon Officiel",
        "accessories",
        "Ballon taille 5 aux couleurs de l'AS Monaco.",
        3_999,
        None,
        &[(None, 40)],
    ),
    // Beyond v1.0: other clubs, and products sold by size (a purchase
    // without a size is 422 naming `variantId`).
    (
        "AS_MONACO",
        "Sweat à capuche",
        "apparel",
        "Sweat à capuche molletonné AS Monaco.",
        6_999,
        None,
        &[(Some("M"), 12), (Some("L"), 12)],
    ),
    (
        "PSG",
        "Maillot Extérieur 2025/26",
        "jerseys",
        "Maillot extérieur officiel du Paris Saint-Germain.",
        9_999,
        None,
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
        None,
        &[(None, 30)],
    ),
    (
        "OL",
        "Casquette officielle",
        "accessories",
        "Casquette brodée Olympique Lyonnais.",
        2_999,
        None,
        &[(None, 25)],
    ),
    (
        "WYDAD_AC",
        "Ballon officiel",
        "equipment",
        "Ballon taille 5 du Wydad AC.",
        35_000,
        None,
        &[(None, 15)],
    ),
];

pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let now = now_ms();
    for (club, name, category, description, price, was, sizes) in PRODUCTS {
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
            "INSERT INTO products (id, club_id, name, category, description, image_url, price, compare_at_price,
                                   currency, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10)",
        )
        .bind(&id)
        .bind(*club)
        .bind(*name)
        .bind(*category)
        .bind(*description)
        // No image hosting yet: no URL rather than a broken one.
        .bind(None::<String>)
        .bind(*price)
        .bind(*was)
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
