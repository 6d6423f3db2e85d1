//! eSIM suppliers (SM-DP+ operators) behind one interface.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;

pub struct ProfileOrder<'a> {
    /// Our eSIM id, sent as the supplier's idempotency reference.
    pub esim_id: &'a str,
    pub plan_id: &'a str,
    /// None = unlimited.
    pub data_mb: Option<i64>,
    pub validity_days: i64,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub iccid: String,
    pub matching_id: String,
    pub smdp_address: String,
    /// GSMA SGP.22 activation code: `LPA:1$<SM-DP+ address>$<matching ID>`.
    pub activation_code: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub used_mb: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SupplierError {
    #[error("the eSIM supplier failed: {0}")]
    Failed(String),
    #[error("the eSIM supplier did not answer in time")]
    Timeout,
    #[error("unknown profile")]
    UnknownProfile,
}

pub trait EsimProvider: Send + Sync {
    fn name(&self) -> &'static str;
    fn order_profile<'a>(
        &'a self,
        order: ProfileOrder<'a>,
    ) -> BoxFuture<'a, Result<Profile, SupplierError>>;
    fn top_up<'a>(
        &'a self,
        iccid: &'a str,
        data_mb: Option<i64>,
        days: i64,
    ) -> BoxFuture<'a, Result<(), SupplierError>>;
    fn usage<'a>(&'a self, iccid: &'a str) -> BoxFuture<'a, Result<Usage, SupplierError>>;
    fn cancel<'a>(&'a self, iccid: &'a str) -> BoxFuture<'a, Result<(), SupplierError>>;
}

/// Behaves like a reseller API so the product works end to end offline:
/// Luhn-valid ICCIDs, matching IDs, the configured SM-DP+ address, and its own
/// record of each profile. `failure` makes it fail or hang, to prove that a
/// supplier outage never loses a fan's money.
pub struct SimulatedProvider {
    smdp_address: String,
    failure: SimulatedFailure,
    profiles: Mutex<HashMap<String, SimProfile>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatedFailure {
    None,
    Error,
    Timeout,
}

struct SimProfile {
    data_mb: Option<i64>,
    used_mb: i64,
    cancelled: bool,
}

impl SimulatedProvider {
    pub fn new(smdp_address: &str, failure: SimulatedFailure) -> Self {
        SimulatedProvider {
            smdp_address: smdp_address.to_owned(),
            failure,
            profiles: Mutex::new(HashMap::new()),
        }
    }

    async fn fail_if_configured(&self) -> Result<(), SupplierError> {
        match self.failure {
            SimulatedFailure::None => Ok(()),
            SimulatedFailure::Error => {
                Err(SupplierError::Failed("simulated supplier outage".into()))
            }
            // Longer than any sensible provider timeout.
            SimulatedFailure::Timeout => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(SupplierError::Timeout)
            }
        }
    }
}

impl EsimProvider for SimulatedProvider {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn order_profile<'a>(
        &'a self,
        order: ProfileOrder<'a>,
    ) -> BoxFuture<'a, Result<Profile, SupplierError>> {
        Box::pin(async move {
            self.fail_if_configured().await?;
            let iccid = new_iccid();
            let matching_id = new_matching_id();
            if let Ok(mut p) = self.profiles.lock() {
                p.insert(
                    iccid.clone(),
                    SimProfile {
                        data_mb: order.data_mb,
                        used_mb: 0,
                        cancelled: false,
                    },
                );
            }
            Ok(Profile {
                activation_code: activation_code(&self.smdp_address, &matching_id),
                iccid,
                matching_id,
                smdp_address: self.smdp_address.clone(),
            })
        })
    }

    fn top_up<'a>(
        &'a self,
        iccid: &'a str,
        data_mb: Option<i64>,
        _days: i64,
    ) -> BoxFuture<'a, Result<(), SupplierError>> {
        Box::pin(async move {
            self.fail_if_configured().await?;
            let mut profiles = self
                .profiles
                .lock()
                .map_err(|_| SupplierError::Failed("state poisoned".into()))?;
            // Profiles ordered before a restart are unknown to this in-memory
            // simulation; a real supplier would know them, so accept.
            if let Some(p) = profiles.get_mut(iccid) {
                p.data_mb = match (p.data_mb, data_mb) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
            }
            Ok(())
        })
    }

    fn usage<'a>(&'a self, iccid: &'a str) -> BoxFuture<'a, Result<Usage, SupplierError>> {
        Box::pin(async move {
            let profiles = self
                .profiles
                .lock()
                .map_err(|_| SupplierError::Failed("state poisoned".into()))?;
            profiles
                .get(iccid)
                .filter(|p| !p.cancelled)
                .map(|p| Usage { used_mb: p.used_mb })
                .ok_or(SupplierError::UnknownProfile)
        })
    }

    fn cancel<'a>(&'a self, iccid: &'a str) -> BoxFuture<'a, Result<(), SupplierError>> {
        Box::pin(async move {
            let mut profiles = self
                .profiles
                .lock()
                .map_err(|_| SupplierError::Failed("state poisoned".into()))?;
            match profiles.get_mut(iccid) {
                Some(p) => {
                    p.cancelled = true;
                    Ok(())
                }
                None => Err(SupplierError::UnknownProfile),
            }
        })
    }
}

pub fn activation_code(smdp: &str, matching_id: &str) -> String {
    format!("LPA:1${smdp}${matching_id}")
}

/// 19-digit ICCID: `89` (telecom) + `33` (country) + `01` (issuer) + 12 random
/// digits + the Luhn check digit.
pub fn new_iccid() -> String {
    let mut digits = String::from("893301");
    let random: [u8; 12] = rand::random();
    for b in random {
        digits.push(char::from(b'0' + b % 10));
    }
    let check = luhn_check_digit(&digits);
    digits.push(char::from(b'0' + check));
    digits
}

fn new_matching_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let random: [u8; 20] = rand::random();
    let chars: Vec<char> = random
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The digit that makes `payload` + digit pass the Luhn check.
pub fn luhn_check_digit(payload: &str) -> u8 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

pub fn luhn_valid(number: &str) -> bool {
    number.len() >= 2
        && number.bytes().all(|b| b.is_ascii_digit())
        && luhn_check_digit(&number[..number.len() - 1])
            == number.as_bytes()[number.len() - 1] - b'0'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert_eq!(luhn_check_digit("7992739871"), 3);
        assert!(luhn_valid("8944500102198304826"));
    }

    #[test]
    fn iccids_are_19_luhn_valid_digits_starting_89() {
        for _ in 0..200 {
            let i = new_iccid();
            assert_eq!(i.len(), 19);
            assert!(i.starts_with("89"));
            assert!(luhn_valid(&i), "{i}");
        }
        let m = new_matching_id();
        assert_eq!(m.len(), 23);
        assert_eq!(
            activation_code("smdp.example.com", "AB-CD"),
            "LPA:1$smdp.example.com$AB-CD"
        );
    }
}
