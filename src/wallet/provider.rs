//! Payment providers that bring money into wallets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::config::Config;
use crate::wallet::money::Currency;

pub struct DepositRequest<'a> {
    pub payment_id: &'a str,
    pub user_id: &'a str,
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug)]
pub enum ProviderOutcome {
    /// The money is ours now (the sandbox).
    Settled,
    /// The provider will confirm later (a webhook).
    Pending {
        provider_ref: String,
        client_secret: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("payment provider error: {0}")]
pub struct ProviderError(pub String);

pub trait PaymentProvider: Send + Sync {
    /// Stable id (`sandbox`, `stripe`), also the owner of its funding account.
    fn name(&self) -> &'static str;
    fn display_name(&self) -> &'static str;
    fn start_deposit<'a>(
        &'a self,
        req: DepositRequest<'a>,
    ) -> BoxFuture<'a, Result<ProviderOutcome, ProviderError>>;
    /// Asks the provider to give up a payment that will not be completed
    /// (an expired deposit); nothing to do for one that settles at once.
    fn cancel<'a>(&'a self, _provider_ref: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Settles at once. Development and demos only (config refuses it in production).
pub struct SandboxProvider;

impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }
    fn display_name(&self) -> &'static str {
        "Sandbox"
    }
    fn start_deposit<'a>(
        &'a self,
        _req: DepositRequest<'a>,
    ) -> BoxFuture<'a, Result<ProviderOutcome, ProviderError>> {
        Box::pin(async { Ok(ProviderOutcome::Settled) })
    }
}

/// Stripe PaymentIntents: the deposit is pending until Stripe's signed
/// `payment_intent.succeeded` webhook arrives.
pub struct StripeProvider {
    http: reqwest::Client,
    api_base: String,
    secret_key: String,
}

#[derive(Deserialize)]
struct StripeIntent {
    id: String,
    client_secret: Option<String>,
}

impl PaymentProvider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }
    fn display_name(&self) -> &'static str {
        "Card (Stripe)"
    }
    fn start_deposit<'a>(
        &'a self,
        req: DepositRequest<'a>,
    ) -> BoxFuture<'a, Result<ProviderOutcome, ProviderError>> {
        Box::pin(async move {
            let form = [
                ("amount", req.amount.to_string()),
                ("currency", req.currency.code().to_ascii_lowercase()),
                ("automatic_payment_methods[enabled]", "true".to_owned()),
                ("metadata[payment_id]", req.payment_id.to_owned()),
                ("metadata[user_id]", req.user_id.to_owned()),
            ];
            let resp = self
                .http
                .post(format!("{}/v1/payment_intents", self.api_base))
                .bearer_auth(&self.secret_key)
                // Our payment id makes Stripe's side idempotent too.
                .header("Idempotency-Key", req.payment_id)
                .form(&form)
                .send()
                .await
                .map_err(|e| ProviderError(format!("stripe unreachable: {e}")))?;
            if !resp.status().is_success() {
                return Err(ProviderError(format!("stripe answered {}", resp.status())));
            }
            let intent: StripeIntent = resp
                .json()
                .await
                .map_err(|e| ProviderError(format!("stripe answer unreadable: {e}")))?;
            Ok(ProviderOutcome::Pending {
                provider_ref: intent.id,
                client_secret: intent.client_secret,
            })
        })
    }

    fn cancel<'a>(&'a self, provider_ref: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let resp = self
                .http
                .post(format!(
                    "{}/v1/payment_intents/{provider_ref}/cancel",
                    self.api_base
                ))
                .bearer_auth(&self.secret_key)
                .form(&[("cancellation_reason", "abandoned")])
                .send()
                .await
                .map_err(|e| ProviderError(format!("stripe unreachable: {e}")))?;
            if !resp.status().is_success() {
                return Err(ProviderError(format!("stripe answered {}", resp.status())));
            }
            Ok(())
        })
    }
}

/// The providers this deployment enabled.
#[derive(Clone)]
pub struct Payments {
    providers: HashMap<&'static str, Arc<dyn PaymentProvider>>,
    pub stripe_webhook_secret: Option<String>,
}

/// Payment methods v1.0 clients send, served by whichever card provider is on.
const CARD_METHODS: &[&str] = &[
    "card",
    "credit_card",
    "debit_card",
    "apple_pay",
    "google_pay",
];

impl Payments {
    pub fn from_config(config: &Config) -> anyhow::Result<Payments> {
        let mut providers: HashMap<&'static str, Arc<dyn PaymentProvider>> = HashMap::new();
        for name in &config.payment_providers {
            match name.as_str() {
                "sandbox" => {
                    providers.insert("sandbox", Arc::new(SandboxProvider));
                }
                "stripe" => {
                    crate::install_crypto_provider();
                    let http = reqwest::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .connect_timeout(Duration::from_secs(5))
                        .build()?;
                    providers.insert(
                        "stripe",
                        Arc::new(StripeProvider {
                            http,
                            api_base: config.stripe_api_base.clone(),
                            secret_key: config.stripe_secret_key.clone().unwrap_or_default(),
                        }),
                    );
                }
                other => anyhow::bail!("unknown payment provider {other}"),
            }
        }
        Ok(Payments {
            providers,
            stripe_webhook_secret: config.stripe_webhook_secret.clone(),
        })
    }

    /// The provider for a `method`: a provider's own name, or a card method
    /// (Stripe when enabled, else the sandbox).
    pub fn for_method(&self, method: &str) -> Option<Arc<dyn PaymentProvider>> {
        let m = method.trim().to_ascii_lowercase();
        if let Some(p) = self.providers.get(m.as_str()) {
            return Some(p.clone());
        }
        if CARD_METHODS.contains(&m.as_str()) {
            return self
                .providers
                .get("stripe")
                .or_else(|| self.providers.get("sandbox"))
                .cloned();
        }
        None
    }

    pub fn display_name(&self, name: &str) -> String {
        self.providers
            .get(name)
            .map(|p| p.display_name().to_owned())
            .unwrap_or_else(|| name.to_owned())
    }

    pub fn methods(&self) -> Vec<String> {
        let mut m: Vec<String> = self.providers.keys().map(|k| (*k).to_owned()).collect();
        if !self.providers.is_empty() {
            m.extend(CARD_METHODS.iter().map(|s| (*s).to_owned()));
        }
        m.sort();
        m
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no matching signature")]
    Mismatch,
}

/// Checks a `Stripe-Signature: t=<unix>,v1=<hex hmac>[,v1=...]` header:
/// HMAC-SHA256 of `"<t>.<raw body>"` with the endpoint secret, and `t` within
/// `tolerance_secs` of `now` (replayed old deliveries are refused).
pub fn verify_stripe_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" => timestamp = Some(v.parse().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    for sig in signatures {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureError::Malformed)?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // Constant-time comparison.
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// Signs a payload as Stripe does (tests and local tooling).
pub fn stripe_signature_header(payload: &[u8], secret: &str, t: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_signatures() {
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
        let h = stripe_signature_header(body, "whsec_test", 1_700_000_000);
        assert_eq!(
            verify_stripe_signature(body, &h, "whsec_test", 1_700_000_100, 300),
            Ok(())
        );
        assert_eq!(
            verify_stripe_signature(body, &h, "whsec_other", 1_700_000_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_stripe_signature(b"{}", &h, "whsec_test", 1_700_000_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_stripe_signature(body, &h, "whsec_test", 1_700_001_000, 300),
            Err(SignatureError::Stale)
        );
        // A second, valid v1 entry (secret rotation) is accepted.
        let two = format!("{h},v1={}", "00".repeat(32));
        assert_eq!(
            verify_stripe_signature(body, &two, "whsec_test", 1_700_000_000, 300),
            Ok(())
        );
        for bad in ["", "t=abc,v1=00", "v1=00", "t=1700000000", "garbage"] {
            assert_eq!(
                verify_stripe_signature(body, bad, "whsec_test", 1_700_000_000, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
