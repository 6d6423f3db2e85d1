//! Demo data, seeded into a fresh database when `DEMO_DATA` is on (never in
//! production). Every capability adds its own rows here, in `seed`, so there is
//! one place to read what a demo database holds. Seeding is idempotent: each
//! row is inserted only when absent, so restarts keep what fans changed.

use crate::app::AppState;
use crate::auth::model::User;
use crate::auth::{password, store as users, token::Role};
use crate::clubs::{self, NewClub};
use crate::db::now_ms;
use crate::error::ApiError;

pub const DEMO_EMAIL: &str = "demo@paiecashfan.com";
pub const DEMO_PASSWORD: &str = "demo123";

const CLUBS: &[NewClub<'static>] = &[
    NewClub {
        id: "AS_MONACO",
        name: "AS Monaco",
        short_name: "Monaco",
        league: "Ligue 1",
        country: "MC",
        currency: "EUR",
        primary_color: "#E51B22",
        secondary_color: "#FFFFFF",
    },
    NewClub {
        id: "PSG",
        name: "Paris Saint-Germain",
        short_name: "PSG",
        league: "Ligue 1",
        country: "FR",
        currency: "EUR",
        primary_color: "#004170",
        secondary_color: "#DA291C",
    },
    NewClub {
        id: "OL",
        name: "Olympique Lyonnais",
        short_name: "Lyon",
        league: "Ligue 1",
        country: "FR",
        currency: "EUR",
        primary_color: "#1B3D8F",
        secondary_color: "#E30613",
    },
    NewClub {
        id: "OM",
        name: "Olympique de Marseille",
        short_name: "Marseille",
        league: "Ligue 1",
        country: "FR",
        currency: "EUR",
        primary_color: "#2FAEE0",
        secondary_color: "#FFFFFF",
    },
    NewClub {
        id: "WYDAD_AC",
        name: "Wydad AC",
        short_name: "Wydad",
        league: "Botola Pro",
        country: "MA",
        currency: "MAD",
        primary_color: "#D71920",
        secondary_color: "#FFFFFF",
    },
    NewClub {
        id: "RAJA_CA",
        name: "Raja CA",
        short_name: "Raja",
        league: "Botola Pro",
        country: "MA",
        currency: "MAD",
        primary_color: "#00A651",
        secondary_color: "#FFFFFF",
    },
    NewClub {
        id: "COTON_SPORT",
        name: "Coton Sport FC de Garoua",
        short_name: "Coton Sport",
        league: "Elite One",
        country: "CM",
        currency: "XAF",
        primary_color: "#006B3F",
        secondary_color: "#FCD116",
    },
    NewClub {
        id: "ASEC_MIMOSAS",
        name: "ASEC Mimosas",
        short_name: "ASEC",
        league: "Ligue 1 (Côte d'Ivoire)",
        country: "CI",
        currency: "XOF",
        primary_color: "#F7A600",
        secondary_color: "#000000",
    },
];

/// Seeds every capability's demo rows.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    for club in CLUBS {
        clubs::insert_if_absent(tx.conn(), club, now).await?;
    }
    tx.commit().await?;
    let fan = demo_fan(state).await?;
    demo_wallet(state, &fan.id).await?;
    Ok(())
}

/// The demo fan starts with 500.00 EUR from the sandbox provider, posted once
/// (the operation's idempotency key makes re-seeding a no-op).
async fn demo_wallet(state: &AppState, user_id: &str) -> anyhow::Result<()> {
    use crate::wallet::ledger::{self, AccountKind, LedgerError, Operation, Posting};
    use crate::wallet::money::Currency;
    let mut tx = state.db.begin_write().await?;
    let funding = ledger::account_id(
        tx.conn(),
        AccountKind::ProviderFunding,
        "sandbox",
        Currency::Eur,
    )
    .await?;
    let wallet = ledger::account_id(tx.conn(), AccountKind::User, user_id, Currency::Eur).await?;
    let posted = ledger::post(
        tx.conn(),
        Operation {
            kind: "deposit",
            user_id: Some(user_id),
            idempotency_key: Some("demo-seed"),
        },
        vec![Posting {
            debit: funding,
            credit: wallet,
            amount: 50_000,
            currency: Currency::Eur,
            kind: "deposit",
            reference: None,
            note: Some("Welcome credit (demo data)".into()),
            metadata: None,
        }],
    )
    .await;
    match posted {
        Ok(_) => tx.commit().await?,
        Err(LedgerError::DuplicateOperation) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The v1.0 demo account; its short password predates the 8-character rule.
pub async fn demo_fan(state: &AppState) -> anyhow::Result<User> {
    if let Some(existing) = users::find_by_email(&state.db.pool, DEMO_EMAIL).await? {
        return Ok(existing.user);
    }
    let hash = password::hash(DEMO_PASSWORD.to_owned())
        .await
        .map_err(api_err)?;
    let created = crate::auth::service::create_user(
        state,
        DEMO_EMAIL,
        &hash,
        "Demo Fan",
        Some("AS_MONACO"),
        Role::Fan,
        None,
    )
    .await;
    match created {
        Ok(user) => Ok(user),
        // Another instance seeded it at the same moment.
        Err(ApiError::Client {
            code: "email_taken",
            ..
        }) => users::find_by_email(&state.db.pool, DEMO_EMAIL)
            .await?
            .map(|r| r.user)
            .ok_or_else(|| anyhow::anyhow!("demo user missing")),
        Err(e) => Err(api_err(e)),
    }
}

fn api_err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
