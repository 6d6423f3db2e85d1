//! v1.0's four eSIM plans, and two more (called from `crate::demo`).

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

/// v1.0's plans list how many countries they cover; these are the countries.
const EUROPE_20: &[&str] = &[
    "FR", "MC", "ES", "IT", "DE", "PT", "BE", "NL", "GB", "CH", "AT", "IE", "LU", "DK", "SE", "NO",
    "FI", "PL", "CZ", "GR",
];

const EUROPE_35: &[&str] = &[
    "FR", "MC", "ES", "IT", "DE", "PT", "BE", "NL", "GB", "CH", "AT", "IE", "LU", "DK", "SE", "NO",
    "FI", "PL", "CZ", "GR", "HU", "RO", "BG", "HR", "SI", "SK", "EE", "LV", "LT", "IS", "MT", "CY",
    "LI", "AD", "SM",
];

const ASIA_PACIFIC_15: &[&str] = &[
    "JP", "KR", "CN", "HK", "TW", "SG", "MY", "TH", "VN", "ID", "PH", "AU", "NZ", "IN", "KH",
];

const GLOBAL_120: &[&str] = &[
    // Europe (35)
    "FR", "MC", "ES", "IT", "DE", "PT", "BE", "NL", "GB", "CH", "AT", "IE", "LU", "DK", "SE", "NO",
    "FI", "PL", "CZ", "GR", "HU", "RO", "BG", "HR", "SI", "SK", "EE", "LV", "LT", "IS", "MT", "CY",
    "LI", "AD", "SM", // Asia-Pacific (25)
    "JP", "KR", "CN", "HK", "TW", "SG", "MY", "TH", "VN", "ID", "PH", "AU", "NZ", "IN", "KH", "LK",
    "BD", "PK", "MO", "MN", "LA", "NP", "BN", "FJ", "KZ", // Americas (25)
    "US", "CA", "MX", "BR", "AR", "CL", "CO", "PE", "UY", "PY", "EC", "BO", "CR", "PA", "GT", "DO",
    "PR", "JM", "SV", "HN", "NI", "TT", "BS", "BB", "VE", // Middle East (12)
    "QA", "SA", "AE", "KW", "BH", "OM", "JO", "IL", "TR", "LB", "IQ", "AZ", // Africa (23)
    "MA", "SN", "CI", "CM", "TN", "DZ", "EG", "NG", "GH", "KE", "ZA", "TZ", "UG", "RW", "ET", "BJ",
    "BF", "ML", "NE", "GA", "CG", "MG", "MU",
];

const PLANS: &[DemoPlan] = &[
    (
        "europe-starter",
        "Europe Starter",
        "europe",
        EUROPE_20,
        Some(30 * 1024),
        30,
        999,
        &["4G", "hotspot"],
        false,
    ),
    (
        "europe-unlimited",
        "Europe Unlimited",
        "europe",
        EUROPE_35,
        Some(100 * 1024),
        30,
        1_999,
        &["5G", "hotspot"],
        true,
    ),
    (
        "global-unlimited",
        "Global Unlimited",
        "global",
        GLOBAL_120,
        None,
        30,
        4_999,
        &["5G", "hotspot"],
        false,
    ),
    (
        "asia-pacific",
        "Asia Pacific",
        "asia",
        ASIA_PACIFIC_15,
        Some(50 * 1024),
        30,
        2_999,
        &["5G"],
        false,
    ),
    // Beyond v1.0: the African away trips of the demo clubs.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_plans_cover_the_number_of_countries_v1_announced() {
        let count = |id: &str| {
            let plan = PLANS.iter().find(|p| p.0 == id);
            let codes = plan.map(|p| p.3).unwrap_or_default();
            let distinct: std::collections::HashSet<_> = codes.iter().collect();
            assert_eq!(distinct.len(), codes.len(), "{id} lists a country twice");
            codes.len()
        };
        assert_eq!(count("europe-starter"), 20);
        assert_eq!(count("europe-unlimited"), 35);
        assert_eq!(count("global-unlimited"), 120);
        assert_eq!(count("asia-pacific"), 15);
    }
}
