//! Configuration from the environment (and an optional `.env`), validated once at start.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub database_url: String,
    pub redis_url: Option<String>,
    /// `None` in development means "generate one and keep it in the database".
    pub jwt_secret: Option<String>,
    pub app_env: AppEnv,
    pub demo_data: bool,
    pub log_format: LogFormat,
    pub cors_origins: Vec<String>,
    pub db_max_connections: u32,
    pub db_min_connections: u32,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub request_timeout: Duration,
    /// A request body must arrive within this (408 otherwise): a client that
    /// announces more than it sends cannot hold a request open.
    pub body_read_timeout: Duration,
    /// Open connections at most; past it the server stops accepting until
    /// one closes.
    pub max_connections: usize,
    /// A refresh token presented again within this window after its
    /// exchange gets the same successor (a double-firing client) instead
    /// of revoking the session.
    pub refresh_reuse_grace: Duration,
    /// Login/register attempts allowed per minute per client address and per account.
    pub auth_rate_limit_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Prefix of every Redis key, so several deployments (or tests) can share one Redis.
    pub redis_prefix: String,
    /// Payment providers that may take deposits: `sandbox`, `stripe`.
    pub payment_providers: Vec<String>,
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub stripe_api_base: String,
    /// A card deposit still pending after this long expires (its intent is
    /// canceled; a late success still credits).
    pub deposit_pending_expiry: Duration,
    /// Deposit limits per currency code: (per operation, per UTC day), in major units.
    pub deposit_limits: Vec<(String, i64, i64)>,
    /// Platform commission on every sale, in basis points (1000 = 10%).
    pub commission_bps: i64,
    /// Tickets can be refunded until this many hours before kickoff.
    pub ticket_refund_cutoff_hours: i64,
    /// File holding the ticket signing key (hex Ed25519 seed); created on first
    /// start. Unset: the key is generated once and kept in the database.
    pub ticket_signing_key_file: Option<String>,
    /// eSIM supplier: `simulated` (development), or `none` (eSIM sales off).
    pub esim_provider: String,
    pub esim_smdp_address: String,
    pub esim_webhook_secret: String,
    pub esim_provider_timeout: Duration,
    /// Test double: make the simulated supplier fail (`error`) or hang (`timeout`).
    pub esim_simulated_failure: String,
    /// Live sockets are pinged this often; one silent for two periods is closed.
    pub ws_heartbeat: Duration,
    /// Frames queued for one socket before its client counts as too slow.
    pub ws_buffer: usize,
    /// Chat messages a fan may post per minute (bursts up to the same number).
    pub chat_rate_limit_per_minute: u32,
    /// The recommendation model is rebuilt once the newest is this old.
    pub ai_rebuild_interval: Duration,
    /// The recommender's view of what is on sale is at most this old.
    pub ai_catalogue_ttl: Duration,
    /// How old the in-memory public catalogue may get (seats and stock sold
    /// on other instances); 0 reads the database on every request.
    pub read_model_max_age: Duration,
    /// The API version of a request that names none (`PaieCashFan-Version`).
    pub api_default_version: crate::versions::Version,
    /// Credited to every new fan's wallet, paid from the promotions account:
    /// (currency, amount in minor units). Off unless `SIGNUP_BONUS` is set.
    pub signup_bonus: Option<(crate::wallet::money::Currency, i64)>,
}

/// `EUR:100` (currency code, amount in major units).
fn parse_signup_bonus(v: &str) -> Result<(crate::wallet::money::Currency, i64), ConfigError> {
    use crate::wallet::money::{Currency, parse_amount};
    let bad = || ConfigError(format!("SIGNUP_BONUS must look like EUR:100, not {v:?}"));
    let (code, amount) = v.split_once(':').ok_or_else(bad)?;
    let currency = Currency::parse(code.trim()).ok_or_else(bad)?;
    let minor = parse_amount(amount.trim(), currency).map_err(|_| bad())?;
    Ok((currency, minor))
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_map(&vars)
    }

    /// Builds a configuration from a variable map; every value is validated here.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let app_env = match get("APP_ENV").as_deref() {
            None | Some("development") | Some("dev") | Some("test") => AppEnv::Development,
            Some("production") | Some("prod") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError(format!(
                    "APP_ENV must be development or production, not {other:?}"
                )));
            }
        };
        let jwt_secret = get("JWT_SECRET");
        if app_env == AppEnv::Production {
            match &jwt_secret {
                Some(s) if s.len() >= 32 => {}
                _ => {
                    return Err(ConfigError(
                        "APP_ENV=production requires JWT_SECRET of at least 32 bytes".into(),
                    ));
                }
            }
        }
        if let Some(s) = &jwt_secret
            && s.len() < 16
        {
            return Err(ConfigError("JWT_SECRET must be at least 16 bytes".into()));
        }
        let demo_data = match get("DEMO_DATA") {
            None => app_env == AppEnv::Development,
            Some(v) => parse_bool("DEMO_DATA", &v)?,
        };
        if demo_data && app_env == AppEnv::Production {
            return Err(ConfigError(
                "DEMO_DATA cannot be on in production (it creates known accounts)".into(),
            ));
        }
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError(format!(
                    "LOG_FORMAT must be pretty or json, not {other:?}"
                )));
            }
        };
        let database_url =
            get("DATABASE_URL").unwrap_or_else(|| "sqlite://data/paiecashfan.db".to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "DATABASE_URL must start with sqlite: or postgres://".into(),
            ));
        }
        let db_max_connections = parse_num(&get, "DB_MAX_CONNECTIONS", 10u32)?;
        let db_min_connections = parse_num(&get, "DB_MIN_CONNECTIONS", 0u32)?;
        if db_max_connections == 0 || db_min_connections > db_max_connections {
            return Err(ConfigError(
                "DB_MAX_CONNECTIONS must be >= 1 and >= DB_MIN_CONNECTIONS".into(),
            ));
        }
        let payment_providers: Vec<String> = get("PAYMENT_PROVIDERS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| {
                if app_env == AppEnv::Production {
                    vec!["stripe".to_owned()]
                } else {
                    vec!["sandbox".to_owned()]
                }
            });
        for p in &payment_providers {
            if p != "sandbox" && p != "stripe" {
                return Err(ConfigError(format!(
                    "PAYMENT_PROVIDERS: unknown provider {p:?} (sandbox, stripe)"
                )));
            }
        }
        if app_env == AppEnv::Production && payment_providers.iter().any(|p| p == "sandbox") {
            return Err(ConfigError(
                "the sandbox payment provider creates money from nothing: not in production".into(),
            ));
        }
        let stripe_secret_key = get("STRIPE_SECRET_KEY");
        let stripe_webhook_secret = get("STRIPE_WEBHOOK_SECRET");
        if payment_providers.iter().any(|p| p == "stripe")
            && (stripe_secret_key.is_none() || stripe_webhook_secret.is_none())
        {
            return Err(ConfigError(
                "the stripe provider needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET".into(),
            ));
        }
        let deposit_limits = parse_deposit_limits(get("DEPOSIT_LIMITS").as_deref())?;
        let api_default_version = match get("API_DEFAULT_VERSION") {
            None => crate::versions::Version::parse("1.0"),
            Some(v) => crate::versions::Version::parse(&v),
        }
        .ok_or_else(|| {
            ConfigError(format!(
                "API_DEFAULT_VERSION must be one of {}",
                crate::versions::Version::known()
            ))
        })?;
        let signup_bonus = get("SIGNUP_BONUS")
            .map(|v| parse_signup_bonus(&v))
            .transpose()?;
        let esim_provider = get("ESIM_PROVIDER").unwrap_or_else(|| {
            if app_env == AppEnv::Production {
                "none"
            } else {
                "simulated"
            }
            .to_owned()
        });
        if esim_provider != "simulated" && esim_provider != "none" {
            return Err(ConfigError(format!(
                "ESIM_PROVIDER: unknown provider {esim_provider:?} (simulated, none)"
            )));
        }
        if app_env == AppEnv::Production && esim_provider == "simulated" {
            return Err(ConfigError(
                "the simulated eSIM provider hands out profiles no phone can install: not in production".into(),
            ));
        }
        let esim_webhook_secret = match get("ESIM_WEBHOOK_SECRET") {
            Some(s) => s,
            None if app_env == AppEnv::Production && esim_provider != "none" => {
                return Err(ConfigError(
                    "ESIM_WEBHOOK_SECRET is required in production".into(),
                ));
            }
            None => "esim-dev-webhook-secret".to_owned(),
        };
        let esim_simulated_failure =
            get("ESIM_SIMULATED_FAILURE").unwrap_or_else(|| "none".to_owned());
        if !["none", "error", "timeout"].contains(&esim_simulated_failure.as_str()) {
            return Err(ConfigError(
                "ESIM_SIMULATED_FAILURE must be none, error or timeout".into(),
            ));
        }
        Ok(Config {
            host: get("HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: parse_num(&get, "PORT", 3000u16)?,
            database_url,
            redis_url: get("REDIS_URL"),
            jwt_secret,
            app_env,
            demo_data,
            log_format,
            cors_origins: get("CORS_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            db_max_connections,
            db_min_connections,
            // Clamped to sane ranges: a zero or astronomically long lifetime is
            // a typo, not a policy.
            access_token_ttl: Duration::from_secs(
                parse_num(&get, "ACCESS_TOKEN_TTL_SECS", 900u64)?.clamp(1, 7 * 86_400),
            ),
            refresh_token_ttl: Duration::from_secs(
                parse_num(&get, "REFRESH_TOKEN_TTL_DAYS", 30u64)?.clamp(1, 3650) * 86_400,
            ),
            request_timeout: Duration::from_secs(
                parse_num(&get, "REQUEST_TIMEOUT_SECS", 30u64)?.max(1),
            ),
            body_read_timeout: Duration::from_secs(
                parse_num(&get, "BODY_READ_TIMEOUT_SECS", 10u64)?.clamp(1, 300),
            ),
            max_connections: parse_num(&get, "MAX_CONNECTIONS", 10_000usize)?.clamp(16, 1_000_000),
            refresh_reuse_grace: Duration::from_secs(
                parse_num(&get, "REFRESH_REUSE_GRACE_SECS", 10u64)?.min(60),
            ),
            auth_rate_limit_per_minute: parse_num(&get, "AUTH_RATE_LIMIT_PER_MINUTE", 10u32)?
                .max(1),
            trust_forwarded_for: match get("TRUST_FORWARDED_FOR") {
                None => false,
                Some(v) => parse_bool("TRUST_FORWARDED_FOR", &v)?,
            },
            redis_prefix: get("REDIS_PREFIX").unwrap_or_else(|| "pcf".to_owned()),
            payment_providers,
            stripe_secret_key,
            stripe_webhook_secret,
            stripe_api_base: get("STRIPE_API_BASE")
                .unwrap_or_else(|| "https://api.stripe.com".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            deposit_limits,
            api_default_version,
            signup_bonus,
            deposit_pending_expiry: Duration::from_secs(
                parse_num(&get, "DEPOSIT_PENDING_EXPIRY_SECS", 3600u64)?.clamp(1, 30 * 86_400),
            ),
            commission_bps: {
                let bps = parse_num(&get, "PLATFORM_COMMISSION_BPS", 1000i64)?;
                if !(0..=5000).contains(&bps) {
                    return Err(ConfigError(
                        "PLATFORM_COMMISSION_BPS must be between 0 and 5000".into(),
                    ));
                }
                bps
            },
            ticket_refund_cutoff_hours: parse_num(&get, "TICKET_REFUND_CUTOFF_HOURS", 48i64)?
                .max(0),
            ticket_signing_key_file: get("TICKET_SIGNING_KEY_FILE"),
            esim_provider,
            esim_smdp_address: get("ESIM_SMDP_ADDRESS")
                .unwrap_or_else(|| "smdp.paiecashfan.test".to_owned()),
            esim_webhook_secret,
            esim_provider_timeout: Duration::from_secs(
                parse_num(&get, "ESIM_PROVIDER_TIMEOUT_SECS", 10u64)?.max(1),
            ),
            esim_simulated_failure,
            ws_heartbeat: Duration::from_millis(
                parse_num(&get, "WS_HEARTBEAT_MS", 25_000u64)?.clamp(100, 300_000),
            ),
            ws_buffer: parse_num(&get, "WS_BUFFER", 256usize)?.clamp(1, 100_000),
            chat_rate_limit_per_minute: parse_num(&get, "CHAT_RATE_LIMIT_PER_MINUTE", 60u32)?
                .max(1),
            ai_rebuild_interval: Duration::from_secs(
                60 * parse_num(&get, "AI_REBUILD_MINUTES", 15u64)?.clamp(1, 7 * 24 * 60),
            ),
            ai_catalogue_ttl: Duration::from_millis(
                parse_num(&get, "AI_CATALOGUE_TTL_MS", 1_000u64)?.min(60_000),
            ),
            read_model_max_age: Duration::from_millis(
                parse_num(&get, "READ_MODEL_MAX_AGE_MS", 1_000u64)?.min(3_600_000),
            ),
        })
    }

    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }
}

/// Default deposit limits (major units), overridden per currency by
/// `DEPOSIT_LIMITS=EUR:1000:2000,XOF:650000:1300000`.
pub const DEFAULT_DEPOSIT_LIMITS: &[(&str, i64, i64)] = &[
    ("EUR", 1_000, 2_000),
    ("USD", 1_000, 2_000),
    ("GBP", 1_000, 2_000),
    ("MAD", 10_000, 20_000),
    ("XOF", 650_000, 1_300_000),
    ("XAF", 650_000, 1_300_000),
];

fn parse_deposit_limits(v: Option<&str>) -> Result<Vec<(String, i64, i64)>, ConfigError> {
    let mut limits: Vec<(String, i64, i64)> = DEFAULT_DEPOSIT_LIMITS
        .iter()
        .map(|(c, o, d)| ((*c).to_owned(), *o, *d))
        .collect();
    let Some(v) = v else { return Ok(limits) };
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = item.split(':').collect();
        let bad = || {
            ConfigError(format!(
                "DEPOSIT_LIMITS: expected CUR:per_op:per_day, got {item:?}"
            ))
        };
        if parts.len() != 3 {
            return Err(bad());
        }
        let cur = parts[0].to_ascii_uppercase();
        let op: i64 = parts[1].parse().map_err(|_| bad())?;
        let day: i64 = parts[2].parse().map_err(|_| bad())?;
        if op <= 0 || day < op {
            return Err(bad());
        }
        match limits.iter_mut().find(|l| l.0 == cur) {
            Some(l) => *l = (cur, op, day),
            None => {
                return Err(ConfigError(format!(
                    "DEPOSIT_LIMITS: unsupported currency {cur}"
                )));
            }
        }
    }
    Ok(limits)
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!(
            "{name} must be true or false, not {v:?}"
        ))),
    }
}

fn parse_num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError(format!("{name} must be a number, not {v:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_development_with_demo_data() {
        let c = Config::from_map(&map(&[])).unwrap();
        assert_eq!(c.port, 3000);
        assert_eq!(c.host, "127.0.0.1");
        assert!(c.demo_data);
        assert_eq!(c.database_url, "sqlite://data/paiecashfan.db");
    }

    #[test]
    fn production_refuses_weak_or_missing_secret() {
        assert!(Config::from_map(&map(&[("APP_ENV", "production")])).is_err());
        assert!(
            Config::from_map(&map(&[
                ("APP_ENV", "production"),
                ("JWT_SECRET", "short-secret-16b")
            ]))
            .is_err()
        );
        let c = Config::from_map(&map(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("STRIPE_SECRET_KEY", "sk_test_x"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_x"),
        ]))
        .unwrap();
        assert_eq!(c.payment_providers, vec!["stripe"]);
        assert!(
            Config::from_map(&map(&[
                ("APP_ENV", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("PAYMENT_PROVIDERS", "sandbox"),
            ]))
            .is_err(),
            "the sandbox creates money: never in production"
        );
        assert!(!c.demo_data, "production never seeds demo accounts");
        assert!(
            Config::from_map(&map(&[
                ("APP_ENV", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("DEMO_DATA", "true"),
            ]))
            .is_err()
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(Config::from_map(&map(&[("PORT", "abc")])).is_err());
        assert!(Config::from_map(&map(&[("DATABASE_URL", "mysql://x")])).is_err());
        assert!(Config::from_map(&map(&[("LOG_FORMAT", "xml")])).is_err());
        assert!(Config::from_map(&map(&[("PAYMENT_PROVIDERS", "paypal")])).is_err());
        assert!(Config::from_map(&map(&[("DEPOSIT_LIMITS", "EUR:10")])).is_err());
        assert!(Config::from_map(&map(&[("DEPOSIT_LIMITS", "EUR:10:5")])).is_err());
        let c = Config::from_map(&map(&[("DEPOSIT_LIMITS", "eur:50:100")])).unwrap();
        assert!(c.deposit_limits.contains(&("EUR".to_owned(), 50, 100)));
    }
}
