//! Argon2id password hashing on a fixed set of worker threads.
//!
//! One Argon2id hash needs a 19 MiB work area. Allocated per hash, glibc's
//! adaptive mmap threshold soon serves these from arenas that it keeps, so
//! a login storm left a server at a quarter of a gigabyte. Here each worker
//! (one per core, at most four) allocates its work area on first use and
//! reuses it for every hash until it has been idle a while: memory is
//! bounded by design, and a storm queues for the workers instead of
//! multiplying work areas.

use std::sync::OnceLock;
use std::time::Duration;

use flume::{Receiver, RecvTimeoutError, Sender};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// The password workers failed (never a wrong password: that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
#[error("argon2: {0}")]
pub struct PasswordError(String);

impl From<PasswordError> for crate::error::ApiError {
    fn from(e: PasswordError) -> Self {
        crate::error::ApiError::Internal(anyhow::anyhow!(e))
    }
}

enum Task {
    Hash(String),
    Verify { password: String, phc: String },
}

struct Job {
    task: Task,
    reply: oneshot::Sender<Result<Outcome, String>>,
}

enum Outcome {
    Hashed(String),
    Verified(bool),
}

fn workers() -> &'static Sender<Job> {
    static QUEUE: OnceLock<Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = flume::unbounded::<Job>();
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for i in 0..n {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "argon2 worker not started");
            }
        }
        tx
    })
}

/// A worker without work for this long gives its work area back: an idle
/// server does not hold the storm's memory.
const RELEASE_AFTER: Duration = Duration::from_secs(10);

fn work(queue: &Receiver<Job>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = match queue.recv_timeout(RELEASE_AFTER) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                // Large enough for a mapping of its own (infra::memory), it
                // goes straight back to the system.
                memory = Vec::new();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let outcome = match job.task {
            Task::Hash(password) => hash_with(&mut memory, &password).map(Outcome::Hashed),
            Task::Verify { password, phc } => {
                verify_with(&mut memory, &password, &phc).map(Outcome::Verified)
            }
        };
        let _ = job.reply.send(outcome);
    }
}

/// The work area for `params`, grown (once) to the largest size needed.
fn area<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let n = params.block_count();
    if memory.len() < n {
        *memory = vec![Block::default(); n];
    }
    &mut memory[..n]
}

fn hash_with(memory: &mut Vec<Block>, password: &str) -> Result<String, String> {
    let params = Params::DEFAULT;
    let salt_bytes: [u8; 16] = rand::random();
    let salt = Salt::new(&salt_bytes).map_err(|e| e.to_string())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, area(memory, &params))
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

fn verify_with(memory: &mut Vec<Block>, password: &str, phc: &str) -> Result<bool, String> {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Ok(false);
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| e.to_string())?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, area(memory, &params))
        .map_err(|e| e.to_string())?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(|e| e.to_string())? == *expected)
}

async fn run(task: Task) -> Result<Outcome, PasswordError> {
    let (reply, answer) = oneshot::channel();
    workers()
        .send(Job { task, reply })
        .map_err(|_| PasswordError("workers gone".into()))?;
    answer
        .await
        .map_err(|_| PasswordError("worker died".into()))?
        .map_err(PasswordError)
}

pub async fn hash(password: String) -> Result<String, PasswordError> {
    match run(Task::Hash(password)).await? {
        Outcome::Hashed(h) => Ok(h),
        Outcome::Verified(_) => Err(PasswordError("wrong answer".into())),
    }
}

/// Verifies `password` against `stored`; with no stored hash (unknown e-mail) it
/// still spends the same time on a dummy hash, so timing does not reveal accounts.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    let real = stored.is_some();
    let phc = match stored {
        Some(s) => s,
        None => dummy_hash().await?,
    };
    match run(Task::Verify { password, phc }).await? {
        Outcome::Verified(ok) => Ok(ok && real),
        Outcome::Hashed(_) => Err(PasswordError("wrong answer".into())),
    }
}

async fn dummy_hash() -> Result<String, PasswordError> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| hash("not a real password".into()))
        .await
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("not a real password".into(), None).await.unwrap());
        assert!(
            !verify("x".into(), Some("not a phc string".into()))
                .await
                .unwrap()
        );
        // Hashes made by the argon2 crate's own hasher (every hash stored
        // before the workers) still verify, and ours verify with it.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::default()
            .hash_password(b"old password")
            .unwrap()
            .to_string();
        assert!(verify("old password".into(), Some(theirs)).await.unwrap());
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
    }
}
