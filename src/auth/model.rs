use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::token::Role;
use crate::http::validate::{Checks, Validate, normalize_email};

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const NAME_MAX: usize = 100;

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    /// Favourite club (its wallet currency is the user's primary currency).
    pub club_id: Option<String>,
    pub role: Role,
    /// Club a staff member works for.
    pub staff_club_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// E-mail address, case-insensitive and unique.
    #[schema(example = "fan@example.com", max_length = 254)]
    pub email: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Favourite club id, such as `AS_MONACO`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub club_id: Option<String>,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> Result<(), crate::error::ApiError> {
        let mut c = Checks::new();
        if normalize_email(&self.email).is_none() {
            c.push("email", "invalid_format", "must be a valid e-mail address");
        }
        let n = self.password.chars().count();
        if n < PASSWORD_MIN {
            c.push(
                "password",
                "too_short",
                format!("must be at least {PASSWORD_MIN} characters"),
            );
        } else if n > PASSWORD_MAX {
            c.push(
                "password",
                "too_long",
                format!("must be at most {PASSWORD_MAX} characters"),
            );
        }
        c.text("name", self.name.trim(), 1, NAME_MAX);
        c.optional_text("clubId", self.club_id.as_deref(), 1, 64);
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "demo@paiecashfan.com")]
    #[schema(min_length = 1, max_length = 254)]
    pub email: String,
    #[schema(example = "demo123", min_length = 1, max_length = 128)]
    pub password: String,
}

impl Validate for LoginRequest {
    fn validate(&self) -> Result<(), crate::error::ApiError> {
        let mut c = Checks::new();
        c.text("email", &self.email, 1, 254);
        if self.password.is_empty() {
            c.push("password", "required", "must not be empty");
        } else if self.password.chars().count() > PASSWORD_MAX {
            c.push("password", "too_long", "is too long");
        }
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(min_length = 1, max_length = 128)]
    pub current_password: String,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

impl Validate for ChangePasswordRequest {
    fn validate(&self) -> Result<(), crate::error::ApiError> {
        let mut c = Checks::new();
        if self.current_password.is_empty() {
            c.push("currentPassword", "required", "must not be empty");
        } else if self.current_password.chars().count() > PASSWORD_MAX {
            c.push("currentPassword", "too_long", "is too long");
        }
        let n = self.new_password.chars().count();
        if n < PASSWORD_MIN {
            c.push(
                "newPassword",
                "too_short",
                format!("must be at least {PASSWORD_MIN} characters"),
            );
        } else if n > PASSWORD_MAX {
            c.push(
                "newPassword",
                "too_long",
                format!("must be at most {PASSWORD_MAX} characters"),
            );
        }
        c.finish()
    }
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct SessionsRevoked {
    /// How many sessions were ended.
    pub revoked: usize,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(min_length = 1, max_length = 512)]
    pub refresh_token: String,
}

impl Validate for RefreshRequest {
    fn validate(&self) -> Result<(), crate::error::ApiError> {
        let mut c = Checks::new();
        c.text("refreshToken", &self.refresh_token, 1, 512);
        c.finish()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// New favourite club; `null` clears it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub club_id: Option<Option<String>>,
}

impl Validate for UpdateMeRequest {
    fn validate(&self) -> Result<(), crate::error::ApiError> {
        let mut c = Checks::new();
        if let Some(name) = &self.name {
            c.text("name", name.trim(), 1, NAME_MAX);
        }
        if let Some(Some(club)) = &self.club_id {
            c.text("clubId", club, 1, 64);
        }
        c.finish()
    }
}

/// Distinguishes an absent field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Answer of register, login and refresh.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    /// Access token (JWT) for `Authorization: Bearer`.
    pub token: String,
    /// Opaque, single-use refresh token for `POST /api/auth/refresh`.
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Lifetime of `token` in seconds.
    pub expires_in: u64,
    pub user: User,
    /// On registration: the wallet opened for the new fan (with the signup
    /// bonus, when the server pays one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet: Option<crate::wallet::signup::NewWallet>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: User,
}
