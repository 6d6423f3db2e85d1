//! Signed ticket tokens and the signed ownership chain. Pure logic, no I/O.
//!
//! A QR token is `PCF1.<payload>.<signature>` (base64url, no padding):
//! payload = kid (8 bytes) ‖ ticket id (16) ‖ event id (16) ‖ category id (16)
//! ‖ serial (u32 BE) ‖ version (u32 BE); signature = Ed25519 over the ASCII
//! text `PCF1.<payload>`. 64 bytes of payload keep the QR small enough for a
//! phone screen at a stadium gate, and a scanner that holds the public key
//! (`GET /api/keys`, or the gate kit) checks it without any network.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const PREFIX: &str = "PCF1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaims {
    pub ticket_id: Uuid,
    pub event_id: Uuid,
    pub category_id: Uuid,
    pub serial: u32,
    pub version: u32,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a ticket token")]
    Malformed,
    #[error("signed by an unknown key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
}

/// The server's ticket signing key.
#[derive(Clone)]
pub struct TicketSigner {
    key: SigningKey,
}

impl TicketSigner {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        TicketSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Key id: the first 8 bytes of SHA-256 of the public key.
    pub fn kid(&self) -> [u8; 8] {
        kid_of(&self.verifying_key())
    }

    pub fn kid_text(&self) -> String {
        hex::encode(self.kid())
    }

    pub fn public_key_b64(&self) -> String {
        B64.encode(self.verifying_key().to_bytes())
    }

    pub fn sign_ticket(&self, c: &TicketClaims) -> String {
        let mut payload = Vec::with_capacity(64);
        payload.extend_from_slice(&self.kid());
        payload.extend_from_slice(c.ticket_id.as_bytes());
        payload.extend_from_slice(c.event_id.as_bytes());
        payload.extend_from_slice(c.category_id.as_bytes());
        payload.extend_from_slice(&c.serial.to_be_bytes());
        payload.extend_from_slice(&c.version.to_be_bytes());
        let signed = format!("{PREFIX}.{}", B64.encode(&payload));
        let sig = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", B64.encode(sig.to_bytes()))
    }

    pub fn verify_ticket(&self, token: &str) -> Result<TicketClaims, TokenError> {
        verify_ticket(token, &[self.verifying_key()])
    }

    pub fn sign_bytes(&self, msg: &[u8]) -> String {
        B64.encode(self.key.sign(msg).to_bytes())
    }
}

pub fn kid_of(key: &VerifyingKey) -> [u8; 8] {
    let digest = Sha256::digest(key.to_bytes());
    let mut kid = [0u8; 8];
    kid.copy_from_slice(&digest[..8]);
    kid
}

/// Verifies a token against any of the given public keys (rotation).
pub fn verify_ticket(token: &str, keys: &[VerifyingKey]) -> Result<TicketClaims, TokenError> {
    let token = token.trim();
    if token.len() > 512 {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(prefix), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if prefix != PREFIX {
        return Err(TokenError::Malformed);
    }
    let payload = B64.decode(payload_b64).map_err(|_| TokenError::Malformed)?;
    let sig_bytes: [u8; 64] = B64
        .decode(sig_b64)
        .map_err(|_| TokenError::Malformed)?
        .try_into()
        .map_err(|_| TokenError::Malformed)?;
    if payload.len() != 64 {
        return Err(TokenError::Malformed);
    }
    let key = keys
        .iter()
        .find(|k| kid_of(k) == payload[..8])
        .ok_or(TokenError::UnknownKey)?;
    let signed = &token[..prefix.len() + 1 + payload_b64.len()];
    key.verify(signed.as_bytes(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| TokenError::BadSignature)?;
    let uuid_at = |i: usize| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&payload[i..i + 16]);
        Uuid::from_bytes(b)
    };
    let u32_at =
        |i: usize| u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]]);
    Ok(TicketClaims {
        ticket_id: uuid_at(8),
        event_id: uuid_at(24),
        category_id: uuid_at(40),
        serial: u32_at(56),
        version: u32_at(60),
    })
}

/// One link of a ticket's ownership chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    pub seq: i64,
    pub kind: String,
    pub ticket_id: String,
    pub version: i64,
    pub from: Option<String>,
    pub to: Option<String>,
    pub at: i64,
    pub prev_hash: String,
}

impl ChainEntry {
    /// SHA-256 (hex) of the entry's canonical text, which includes the hash
    /// of the entry before it: changing any past entry breaks every later one.
    pub fn hash(&self) -> String {
        let text = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}",
            self.seq,
            self.kind,
            self.ticket_id,
            self.version,
            self.from.as_deref().unwrap_or(""),
            self.to.as_deref().unwrap_or(""),
            self.at,
            self.prev_hash
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

/// The hash the first entry of every chain points back to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Checks a whole chain: links, hashes and signatures (over the hash's ASCII).
pub fn verify_chain(entries: &[(ChainEntry, String, String)], key: &VerifyingKey) -> bool {
    let mut prev = GENESIS.to_owned();
    for (i, (entry, hash, signature)) in entries.iter().enumerate() {
        if entry.seq != i as i64 + 1 || entry.prev_hash != prev || entry.hash() != *hash {
            return false;
        }
        let Ok(sig) = B64.decode(signature) else {
            return false;
        };
        let Ok(sig) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        if key
            .verify(hash.as_bytes(), &Signature::from_bytes(&sig))
            .is_err()
        {
            return false;
        }
        prev = hash.clone();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            ticket_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            category_id: Uuid::now_v7(),
            serial: 42,
            version: 3,
        }
    }

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let signer = TicketSigner::from_seed([7; 32]);
        let c = claims();
        let token = signer.sign_ticket(&c);
        assert!(token.starts_with("PCF1."));
        assert!(token.len() < 200, "{}", token.len());
        assert_eq!(signer.verify_ticket(&token), Ok(c));

        // Flip every byte of the token in turn: never accepted.
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            let mut t = bytes.to_vec();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            if t != token {
                assert!(
                    signer.verify_ticket(&t).is_err(),
                    "flipped byte {i} accepted"
                );
            }
        }
        let other = TicketSigner::from_seed([8; 32]);
        assert_eq!(other.verify_ticket(&token), Err(TokenError::UnknownKey));
        for bad in [
            "",
            "PCF1",
            "PCF1..",
            "QR-1A2B3C4D",
            "PCF2.AAAA.BBBB",
            &"A".repeat(600),
        ] {
            assert!(signer.verify_ticket(bad).is_err());
        }
    }

    #[test]
    fn chains_verify_and_break_on_edits() {
        let signer = TicketSigner::from_seed([9; 32]);
        let mut entries = Vec::new();
        let mut prev = GENESIS.to_owned();
        for (seq, (kind, from, to)) in [
            ("issued", None, Some("a")),
            ("transferred", Some("a"), Some("b")),
        ]
        .into_iter()
        .enumerate()
        {
            let e = ChainEntry {
                seq: seq as i64 + 1,
                kind: kind.into(),
                ticket_id: "t".into(),
                version: seq as i64 + 1,
                from: from.map(str::to_owned),
                to: to.map(str::to_owned),
                at: 1000 + seq as i64,
                prev_hash: prev.clone(),
            };
            let h = e.hash();
            let s = signer.sign_bytes(h.as_bytes());
            prev = h.clone();
            entries.push((e, h, s));
        }
        assert!(verify_chain(&entries, &signer.verifying_key()));
        let mut edited = entries.clone();
        edited[0].0.to = Some("mallory".into());
        assert!(!verify_chain(&edited, &signer.verifying_key()));
        let other = TicketSigner::from_seed([1; 32]);
        assert!(!verify_chain(&entries, &other.verifying_key()));
    }
}
