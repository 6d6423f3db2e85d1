//! v1.0's four eSIM plans (called from `crate::demo`).

use crate::app::AppState;
use crate::db::now_ms;

/// (id, name, region, countries, data MB (None = unlimited), days, price minor, features, popular)
type DemoPlan = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<i64>,
    i64,
    i64,
    &'static [&'static str],
    bool,
);

const EUROPE: &[&str] = &[
    "FR", "MC", "ES", "IT", "DE", "PT", "BE", "NL", "GB", "CH", "AT",
];

const PLANS: &[DemoPlan] = &[
    (
        "europe-starter",
        "Europe Starter",
        "europe",
        EUROPE,
        Some(5_120),
        7,
        999,
        &["4G", "hotspot"],
        false,
    ),
    (
        "europe-unlimited",
        "Europe Unlimited",
        "europe",
        EUROPE,
        None,
        30,
        4_999,
        &["5G", "hotspot"],
        true,
    ),
    (
        "africa-explorer",
        "Africa Explorer",
        "africa",
        &["MA", "SN", "CI", "CM", "TN", "DZ", "EG", "NG", "GH"],
        Some(3_072),
        15,
        1_499,
        &["4G"],
        true,
    ),
    (
        "global-fan",
        "Global Fan",
        "global",
        &[
            "FR", "ES", "GB", "US", "MA", "CI", "CM", "QA", "SA", "BR", "AR",
        ],
        Some(10_240),
        30,
        3_999,
        &["5G", "hotspot"],
        false,
    ),
];

pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    for (id, name, region, countries, data_mb, days, price, features, popular) in PLANS {
        sqlx::query(
            "INSERT INTO esim_plans (id, name, region, countries, data_mb, validity_days, validity_starts, price, currency,
                                     features, popular, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'first_use', $7, 'EUR', $8, $9, 1, $10, $10) ON CONFLICT (id) DO NOTHING",
        )
        .bind(*id)
        .bind(*name)
        .bind(*region)
        .bind(serde_json::to_string(countries)?)
        .bind(*data_mb)
        .bind(*days)
        .bind(*price)
        .bind(serde_json::to_string(features)?)
        .bind(i64::from(*popular))
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
