//! Access tokens (HS256 JWT) and opaque refresh tokens.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Fan,
    Staff,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Fan => "fan",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "fan" => Some(Role::Fan),
            "staff" => Some(Role::Staff),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Club of a staff member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub club: Option<String>,
    /// The session (refresh-token family) the token belongs to: ending the
    /// session ends its access tokens at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub iat: u64,
    pub exp: u64,
}

pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Derives a refresh token's successor from it, so a client that sends
    /// the same refresh twice within the grace window gets the same pair.
    rotation_key: Vec<u8>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl TokenService {
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        // Only HS256 is accepted: `alg: none` and every other algorithm fail here.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        TokenService {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            rotation_key: Sha256::new()
                .chain_update(b"paiecashfan refresh-token rotation\n")
                .chain_update(secret)
                .finalize()
                .to_vec(),
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue_access(
        &self,
        user_id: &str,
        role: Role,
        club: Option<String>,
        sid: &str,
    ) -> Result<String, ApiError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        let claims = Claims {
            sub: user_id.to_owned(),
            role,
            club,
            sid: Some(sid.to_owned()),
            iat: now,
            exp: now + self.access_ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("jwt encode: {e}")))
    }

    pub fn verify_access(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        ApiError::unauthorized("the access token has expired")
                    }
                    _ => ApiError::unauthorized("invalid access token"),
                }
            })
    }
}

impl TokenService {
    /// The refresh token that replaces `parent`: unpredictable without the
    /// server's key, and the same every time for the same parent.
    pub fn successor(&self, parent: &str) -> String {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.rotation_key) {
            Ok(m) => m,
            Err(_) => return new_refresh_token(),
        };
        mac.update(parent.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// A fresh opaque refresh token: 256 random bits, base64url.
pub fn new_refresh_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Refresh tokens are stored only as their SHA-256, so a database leak does not
/// hand out sessions.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> TokenService {
        TokenService::new(
            b"0123456789abcdef0123456789abcdef",
            Duration::from_secs(900),
            Duration::from_secs(86400),
        )
    }

    #[test]
    fn round_trip() {
        let s = svc();
        let t = s
            .issue_access("u1", Role::Staff, Some("AS_MONACO".into()), "s1")
            .unwrap();
        let c = s.verify_access(&t).unwrap();
        assert_eq!(c.sub, "u1");
        assert_eq!(c.role, Role::Staff);
        assert_eq!(c.club.as_deref(), Some("AS_MONACO"));
        assert_eq!(c.sid.as_deref(), Some("s1"));
    }

    #[test]
    fn rejects_other_secret_and_alg_none() {
        let t = svc().issue_access("u1", Role::Fan, None, "s1").unwrap();
        let other = TokenService::new(
            b"another-secret-another-secret-xx",
            Duration::from_secs(900),
            Duration::from_secs(1),
        );
        assert!(other.verify_access(&t).is_err());
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&format!(
                r#"{{"sub":"u1","role":"admin","iat":1,"exp":{exp}}}"#
            ))
        );
        assert!(svc().verify_access(&none).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        assert_ne!(a, new_refresh_token());
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
        let s = svc();
        assert_eq!(s.successor(&a), s.successor(&a));
        assert_ne!(s.successor(&a), s.successor(&s.successor(&a)));
        assert_ne!(s.successor(&a), a);
    }
}
