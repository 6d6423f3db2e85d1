//! Account rules: registration, login, refresh-token rotation, profile.

use crate::auth::Auth;
use crate::auth::error::AuthError;
use crate::auth::model::{AuthResponse, User};
use crate::auth::password;
use crate::auth::store::{self, NewUser};
use crate::auth::token::{Role, hash_refresh_token, new_refresh_token};
use crate::db::{new_id, now_ms};
use crate::domain::Invalid;
use crate::http::validate::normalize_email;
use crate::wallet::ledger::LedgerError;
use crate::wallet::signup::{self, NewWallet};

pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
    pub club_id: Option<String>,
    /// Where the request came from.
    pub address: String,
}

impl Auth {
    pub async fn register(&self, r: Registration) -> Result<AuthResponse, AuthError> {
        let email = normalize_email(&r.email).ok_or_else(|| {
            Invalid::field("email", "invalid_format", "must be a valid e-mail address")
        })?;
        let name = r.name.trim().to_owned();
        let hash = password::hash(r.password).await?;
        let (user, wallet) = self
            .create_account(&email, &hash, &name, r.club_id.as_deref(), Role::Fan, None)
            .await?;
        let mut resp = self.issue_session(user, Some(&r.address)).await?;
        resp.wallet = wallet;
        Ok(resp)
    }

    /// Creates a user of any role; the single place where accounts are inserted.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        name: &str,
        club_id: Option<&str>,
        role: Role,
        staff_club_id: Option<&str>,
    ) -> Result<User, AuthError> {
        self.create_account(email, password_hash, name, club_id, role, staff_club_id)
            .await
            .map(|(user, _)| user)
    }

    /// A user, and for a fan the wallet opened (and the signup bonus paid)
    /// in the same transaction.
    async fn create_account(
        &self,
        email: &str,
        password_hash: &str,
        name: &str,
        club_id: Option<&str>,
        role: Role,
        staff_club_id: Option<&str>,
    ) -> Result<(User, Option<NewWallet>), AuthError> {
        let mut tx = self.db.begin_write().await?;
        for (field, club) in [("clubId", club_id), ("club", staff_club_id)] {
            if let Some(club) = club
                && !store::club_exists(tx.conn(), club).await?
            {
                return Err(
                    Invalid::field(field, "unknown_club", format!("no club {club}")).into(),
                );
            }
        }
        let id = new_id();
        let now = now_ms();
        let inserted = store::insert_user(
            tx.conn(),
            NewUser {
                id: &id,
                email,
                password_hash,
                name,
                club_id,
                role,
                staff_club_id,
                now,
            },
        )
        .await;
        if let Err(err) = inserted {
            if store::EMAIL_TAKEN.violated_by(&err) {
                return Err(AuthError::EmailTaken);
            }
            return Err(err.into());
        }
        let user = store::find_by_id(tx.conn(), &id)
            .await?
            .ok_or_else(|| AuthError::Internal("user vanished after insert".into()))?;
        let wallet = match role {
            Role::Fan => Some(
                signup::open(tx.conn(), &id, self.signup_bonus)
                    .await
                    .map_err(|e| match e {
                        LedgerError::Db(e) => AuthError::Db(e),
                        other => AuthError::Internal(other.to_string()),
                    })?,
            ),
            _ => None,
        };
        tx.commit().await?;
        Ok((user, wallet))
    }

    /// Whether the account signed in successfully from `address` before.
    pub async fn known_address(&self, email: &str, address: &str) -> Result<bool, AuthError> {
        Ok(store::known_address(self.db.reader(), email, address).await?)
    }

    pub async fn login(
        &self,
        email: &str,
        password: String,
        address: &str,
    ) -> Result<AuthResponse, AuthError> {
        let record = match normalize_email(email) {
            Some(e) => store::find_by_email(self.db.reader(), &e).await?,
            None => None,
        };
        let stored = record.as_ref().map(|r| r.password_hash.clone());
        // Same message, and the same Argon2 work, for an unknown e-mail and a wrong password.
        if !password::verify(password, stored).await? {
            return Err(AuthError::BadCredentials);
        }
        let record = record.ok_or_else(|| AuthError::BadCredentials)?;
        self.issue_session(record.user, Some(address)).await
    }

    /// Opens a session; `from` is the address that just proved it knows the
    /// password (remembered for the sign-in throttling).
    async fn issue_session(
        &self,
        user: User,
        from: Option<&str>,
    ) -> Result<AuthResponse, AuthError> {
        let refresh = new_refresh_token();
        let now = now_ms();
        let session = new_id();
        let mut tx = self.db.begin_write().await?;
        if let Some(address) = from {
            store::remember_address(tx.conn(), &user.id, address, now).await?;
        }
        store::insert_refresh(
            tx.conn(),
            &session,
            &user.id,
            &hash_refresh_token(&refresh),
            now,
            now + self.tokens.refresh_ttl.as_millis() as i64,
        )
        .await?;
        tx.commit().await?;
        self.respond(user, refresh, &session)
    }

    fn respond(
        &self,
        user: User,
        refresh: String,
        session: &str,
    ) -> Result<AuthResponse, AuthError> {
        let token = self
            .tokens
            .issue_access(&user.id, user.role, user.staff_club_id.clone(), session)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(AuthResponse {
            token,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: self.tokens.access_ttl.as_secs(),
            user,
            wallet: None,
        })
    }

    /// Rotates a refresh token. A token presented again soon after it was
    /// exchanged (`REFRESH_REUSE_GRACE_SECS`) is a client that sent it twice
    /// (two tabs, a retry after a lost answer): it gets the same successor
    /// instead of losing its session (Auth0's reuse interval). Presenting one
    /// after that means it leaked (or was replayed): the whole session is
    /// revoked, so the thief's copy and the victim's current token both stop
    /// working, and so do the session's access tokens.
    pub async fn refresh(&self, token: &str) -> Result<AuthResponse, AuthError> {
        let hash = hash_refresh_token(token);
        let next = self.tokens.successor(token);
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let Some((user_id, family)) = store::consume_refresh(tx.conn(), &hash, now).await? else {
            let invalid = || AuthError::BadRefreshToken;
            let Some(used) = store::find_refresh(tx.conn(), &hash).await? else {
                return Err(invalid());
            };
            if used.revoked_at.is_none()
                && used
                    .rotated_at
                    .is_some_and(|at| now - at < self.refresh_reuse_grace.as_millis() as i64)
                && store::is_live(tx.conn(), &hash_refresh_token(&next), now).await?
            {
                drop(tx);
                let user = store::find_by_id(self.db.reader(), &used.user_id)
                    .await?
                    .ok_or_else(invalid)?;
                return self.respond(user, next, &used.family_id);
            }
            let revoked = store::revoke_family(tx.conn(), &used.family_id, now).await?;
            tx.commit().await?;
            if revoked > 0 {
                tracing::warn!(family = %used.family_id, "refresh token reuse: session revoked");
            }
            self.end_sessions(&[used.family_id]);
            return Err(invalid());
        };
        let user = store::find_by_id(tx.conn(), &user_id)
            .await?
            .ok_or_else(|| AuthError::BadRefreshToken)?;
        store::insert_refresh(
            tx.conn(),
            &family,
            &user_id,
            &hash_refresh_token(&next),
            now,
            now + self.tokens.refresh_ttl.as_millis() as i64,
        )
        .await?;
        tx.commit().await?;
        self.respond(user, next, &family)
    }

    /// Ends sessions' access tokens on every instance.
    fn end_sessions(&self, sessions: &[String]) {
        crate::auth::sessions::announce(
            &self.revoked,
            self.fanout.as_ref(),
            sessions,
            self.tokens.access_ttl,
        );
    }

    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        let hash = hash_refresh_token(token);
        let mut tx = self.db.begin_write().await?;
        let family = store::family_of(tx.conn(), &hash).await?;
        if let Some(family) = &family {
            store::revoke_family(tx.conn(), family, now_ms()).await?;
        }
        tx.commit().await?;
        if let Some(family) = family {
            self.end_sessions(&[family]);
        }
        Ok(())
    }

    /// Ends every session of a user (password change, an admin's decision).
    pub async fn revoke_all_sessions(&self, user_id: &str) -> Result<usize, AuthError> {
        let mut tx = self.db.begin_write().await?;
        let families = store::revoke_user(tx.conn(), user_id, now_ms()).await?;
        tx.commit().await?;
        self.end_sessions(&families);
        Ok(families.len())
    }

    /// Changes the password after checking the current one; every session ends
    /// and the caller gets a new one.
    pub async fn change_password(
        &self,
        user_id: &str,
        current: String,
        new: String,
    ) -> Result<AuthResponse, AuthError> {
        let user = store::find_by_id(self.db.reader(), user_id)
            .await?
            .ok_or_else(|| AuthError::AccountGone)?;
        let record = store::find_by_email(self.db.reader(), &user.email).await?;
        let stored = record.map(|r| r.password_hash);
        if !password::verify(current, stored).await? {
            return Err(Invalid::field(
                "currentPassword",
                "incorrect",
                "the current password is not correct",
            )
            .into());
        }
        let hash = password::hash(new).await?;
        // The new password and the end of every session commit together.
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        store::set_password(tx.conn(), user_id, &hash, now).await?;
        let families = store::revoke_user(tx.conn(), user_id, now).await?;
        tx.commit().await?;
        self.end_sessions(&families);
        self.issue_session(user, None).await
    }

    pub async fn me(&self, user_id: &str) -> Result<User, AuthError> {
        store::find_by_id(self.db.reader(), user_id)
            .await?
            .ok_or_else(|| AuthError::AccountGone)
    }

    pub async fn update_me(
        &self,
        user_id: &str,
        name: Option<String>,
        club_id: Option<Option<String>>,
    ) -> Result<User, AuthError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(Some(club)) = &club_id
            && !store::club_exists(tx.conn(), club).await?
        {
            return Err(Invalid::field("clubId", "unknown_club", format!("no club {club}")).into());
        }
        let name = name.map(|n| n.trim().to_owned());
        store::update_profile(
            tx.conn(),
            user_id,
            name.as_deref(),
            club_id.as_ref().map(|c| c.as_deref()),
            now_ms(),
        )
        .await?;
        let user = store::find_by_id(tx.conn(), user_id)
            .await?
            .ok_or_else(|| AuthError::AccountGone)?;
        tx.commit().await?;
        Ok(user)
    }
}
