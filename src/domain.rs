//! What every capability's core shares: who is calling, the ids that cross
//! capability boundaries, and the refusal of an action the caller's role does
//! not allow. No HTTP here: a handler, a CLI command or a background job build
//! these the same way.

use std::fmt;
use std::ops::Deref;

use serde::Serialize;
use utoipa::ToSchema;

pub use crate::auth::token::Role;

/// Declares a newtype over a `String` id: it reads as `&str` where SQL binds
/// it, and its name says which table's id it is where it crosses a boundary.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// A user (fan, staff or admin): the owner of wallets, carts, tickets, eSIMs.
    UserId
);
id_type!(
    /// A club: seller of products and matches, employer of staff.
    ClubId
);
id_type!(
    /// A match (ticketed event).
    EventId
);

/// The authenticated caller, as a core sees them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: UserId,
    pub role: Role,
    /// The club a staff member works for.
    pub staff_club: Option<ClubId>,
}

/// An action the caller's role does not allow (403).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

impl Forbidden {
    pub fn new(why: impl Into<String>) -> Self {
        Forbidden(why.into())
    }
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), Forbidden> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Forbidden("this action needs the admin role".into()))
        }
    }

    /// Staff of `club_id`, or an admin.
    pub fn require_staff_of(&self, club_id: &str) -> Result<(), Forbidden> {
        if self.is_admin()
            || (self.role == Role::Staff && self.staff_club.as_deref() == Some(club_id))
        {
            Ok(())
        } else {
            Err(Forbidden(format!(
                "this action needs staff of {club_id} or an admin"
            )))
        }
    }
}

/// A field-level validation failure, listed in `errors` of a 422.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the offending field (`email`, `lines[2].quantity`).
    pub field: String,
    /// Stable machine code (`required`, `too_short`, `invalid_format`, ...).
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Input that breaks a rule, field by field (422 `validation_failed`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Invalid(vec![FieldError::new(field, code, message)])
    }
}

/// Declares a status enum with its one string mapping: the words the API
/// shows and the database stores (a CHECK constraint or the code that writes
/// the column keeps the database to these words).
#[macro_export]
macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        // The words are the variants in snake_case: serde and the OpenAPI
        // schema both read this attribute, `as_str` spells them out (a unit
        // test keeps the three in step).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// A status read back from the database: another word is a row
            /// that does not decode, never a guess.
            pub fn stored(text: &str) -> Result<Self, sqlx::Error> {
                Self::parse(text).ok_or_else(|| {
                    sqlx::Error::Decode(
                        format!("unknown {} {text:?}", stringify!($name)).into(),
                    )
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Checks that a status enum's JSON, its OpenAPI schema and `as_str` name
/// the same words (tests only).
#[cfg(test)]
pub(crate) fn assert_status_words<T>(all: &[T], as_str: fn(T) -> &'static str)
where
    T: Copy + serde::Serialize + utoipa::PartialSchema,
{
    let words: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
    let json: Vec<String> = all
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(json, words, "serde words");
    let schema = serde_json::to_value(T::schema()).unwrap();
    let listed: Vec<String> = schema["enum"]
        .as_array()
        .expect("an enum schema")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, words, "OpenAPI words");
}

#[cfg(test)]
mod status_words {
    use crate::domain::assert_status_words;

    #[test]
    fn every_status_reads_the_same_in_json_openapi_and_the_database() {
        use crate::esim::model::{EsimStatus, TopupStatus};
        use crate::shop::model::OrderStatus;
        use crate::tickets::model::TicketStatus;
        use crate::wallet::model::{DepositStatus, PaymentStatus};
        assert_status_words(TicketStatus::ALL, TicketStatus::as_str);
        assert_status_words(OrderStatus::ALL, OrderStatus::as_str);
        assert_status_words(EsimStatus::ALL, EsimStatus::as_str);
        assert_status_words(TopupStatus::ALL, TopupStatus::as_str);
        assert_status_words(PaymentStatus::ALL, PaymentStatus::as_str);
        assert_status_words(DepositStatus::ALL, DepositStatus::as_str);
    }
}
