//! Argon2id password hashing, off the async runtime.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::ApiError;

/// Argon2id takes ~19 MiB and a core for tens of milliseconds per hash: at
/// most one hash per core runs at a time, so a login storm queues instead of
/// multiplying memory (each blocking thread would keep its own arena).
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

async fn on_a_slot<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing slots: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hash task: {e}")))
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    on_a_slot(move || hash_blocking(&password)).await?
}

pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2: {e}")))
}

/// Verifies `password` against `stored`; with no stored hash (unknown e-mail) it
/// still spends the same time on a dummy hash, so timing does not reveal accounts.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    on_a_slot(move || {
        let dummy = dummy_hash();
        let (phc, real) = match &stored {
            Some(s) => (s.as_str(), true),
            None => (dummy, false),
        };
        let ok = match PasswordHash::new(phc) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        };
        ok && real
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("not a real password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), Some(h)).await.unwrap());
        assert!(!verify("not a real password".into(), None).await.unwrap());
    }
}
