//! Demo data, seeded into a fresh database when `DEMO_DATA` is on (never in
//! production). Every capability adds its own rows here, in `seed`, so there is
//! one place to read what a demo database holds. Seeding is idempotent: each
//! row is inserted only when absent, so restarts keep what fans changed.

use crate::app::AppState;
use crate::auth::model::User;
use crate::auth::{AuthError, password, store as users, token::Role};
use crate::clubs::{self, NewClub};
use crate::db::now_ms;

pub const DEMO_EMAIL: &str = "demo@paiecashfan.com";
pub const DEMO_PASSWORD: &str = "demo123";
/// Gate staff of AS Monaco, for the demo page's gate screen.
pub const DEMO_GATE_EMAIL: &str = "gate@paiecashfan.com";
pub const DEMO_GATE_PASSWORD: &str = "gate1234";

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
    demo_gate_staff(state).await?;
    demo_wallet(state, &fan.id).await?;
    demo_matches(state).await?;
    crate::shop::demo::seed(state).await?;
    crate::esim::demo::seed(state).await?;
    crate::social::demo::seed(state, &fan.id).await?;
    Ok(())
}

/// v1.0's three matches at Stade Louis II, with the `standard` seats a v1.0
/// purchase without a category buys, and two more; always upcoming: a match
/// is added again once the previous one between the same teams has been
/// played. Capacities are tens of seats so a sell-out can be tried by hand.
async fn demo_matches(state: &AppState) -> anyhow::Result<()> {
    use sqlx::Row;
    /// (name, price in minor units, capacity)
    type Categories = &'static [(&'static str, i64, i64)];
    /// (home club, away club id or team name, competition, venue, days from now, categories)
    type Match = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        i64,
        Categories,
    );
    const LOUIS_II: &str = "Stade Louis II, Monaco";
    const MATCHES: &[Match] = &[
        (
            "AS_MONACO",
            "PSG",
            "Ligue 1",
            LOUIS_II,
            10,
            &[
                ("standard", 4_999, 40),
                ("premium", 8_999, 30),
                ("VIP", 19_999, 10),
            ],
        ),
        (
            "AS_MONACO",
            "Manchester City",
            "UEFA Champions League",
            LOUIS_II,
            24,
            &[
                ("standard", 14_999, 40),
                ("premium", 24_999, 20),
                ("VIP", 49_999, 8),
            ],
        ),
        (
            "AS_MONACO",
            "OL",
            "Ligue 1",
            LOUIS_II,
            38,
            &[
                ("standard", 5_999, 40),
                ("premium", 9_999, 30),
                ("VIP", 21_999, 10),
            ],
        ),
        (
            "OM",
            "OL",
            "Ligue 1",
            "Orange Vélodrome, Marseille",
            17,
            &[
                ("Virage Sud", 2_500, 50),
                ("Jean Bouin", 4_500, 30),
                ("Loge", 12_000, 8),
            ],
        ),
        (
            "WYDAD_AC",
            "RAJA_CA",
            "Botola Pro — Derby de Casablanca",
            "Stade Mohammed V, Casablanca",
            24,
            &[
                ("Virage", 10_000, 60),
                ("Tribune", 25_000, 30),
                ("Présidentielle", 80_000, 10),
            ],
        ),
    ];
    let now = crate::db::now_ms();
    let day = 86_400_000;
    for (home, away, competition, venue, in_days, categories) in MATCHES {
        // The away side is a club of the platform, or only a team name.
        let away_club: Option<String> = sqlx::query("SELECT name FROM clubs WHERE id = $1")
            .bind(*away)
            .fetch_optional(state.db.reader())
            .await?
            .map(|r| r.try_get("name"))
            .transpose()?;
        let (away_club_id, away_name) = match away_club {
            Some(name) => (Some(*away), name),
            None => (None, (*away).to_owned()),
        };
        let upcoming = sqlx::query(
            "SELECT 1 FROM events WHERE home_club_id = $1 AND away_team = $2 AND kickoff_at > $3",
        )
        .bind(*home)
        .bind(&away_name)
        .bind(now)
        .fetch_optional(state.db.reader())
        .await?;
        if upcoming.is_some() {
            continue;
        }
        let currency: String = sqlx::query("SELECT currency FROM clubs WHERE id = $1")
            .bind(*home)
            .fetch_one(state.db.reader())
            .await?
            .try_get("currency")?;
        // Kick-off at 20:45 UTC, `in_days` from today.
        let kickoff = (now / day + in_days) * day + (20 * 60 + 45) * 60_000;
        let id = crate::db::new_id();
        let mut tx = state.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO events (id, home_club_id, away_club_id, away_team, competition, venue, kickoff_at,
                                 sale_starts_at, sale_ends_at, per_fan_limit, tickets_issued, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, 4, 0, $8, $8)",
        )
        .bind(&id)
        .bind(*home)
        .bind(away_club_id)
        .bind(&away_name)
        .bind(*competition)
        .bind(*venue)
        .bind(kickoff)
        .bind(now)
        .execute(tx.conn())
        .await?;
        for (name, price, capacity) in *categories {
            sqlx::query(
                "INSERT INTO ticket_categories (id, event_id, name, price, currency, capacity, sold, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
            )
            .bind(crate::db::new_id())
            .bind(&id)
            .bind(*name)
            .bind(*price)
            .bind(&currency)
            .bind(*capacity)
            .bind(now)
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await?;
    }
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
    let account = DemoAccount {
        email: DEMO_EMAIL,
        password: DEMO_PASSWORD,
        name: "Demo Fan",
        club: Some("AS_MONACO"),
        role: Role::Fan,
        staff_of: None,
    };
    seed_account(state, &account).await
}

/// A staff member of AS Monaco who can sign in, so the demo's gate screen can
/// be tried on the demo fan's tickets.
async fn demo_gate_staff(state: &AppState) -> anyhow::Result<()> {
    let account = DemoAccount {
        email: DEMO_GATE_EMAIL,
        password: DEMO_GATE_PASSWORD,
        name: "Gate Staff (AS Monaco)",
        club: None,
        role: Role::Staff,
        staff_of: Some("AS_MONACO"),
    };
    seed_account(state, &account).await.map(|_| ())
}

struct DemoAccount {
    email: &'static str,
    password: &'static str,
    name: &'static str,
    club: Option<&'static str>,
    role: Role,
    staff_of: Option<&'static str>,
}

/// The account, created unless it exists.
async fn seed_account(state: &AppState, a: &DemoAccount) -> anyhow::Result<User> {
    if let Some(existing) = users::find_by_email(state.db.reader(), a.email).await? {
        return Ok(existing.user);
    }
    let hash = password::hash(a.password.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let created = state
        .auth
        .create_user(a.email, &hash, a.name, a.club, a.role, a.staff_of)
        .await;
    match created {
        Ok(user) => Ok(user),
        // Another instance seeded it at the same moment.
        Err(AuthError::EmailTaken) => users::find_by_email(state.db.reader(), a.email)
            .await?
            .map(|r| r.user)
            .ok_or_else(|| anyhow::anyhow!("demo user {} missing", a.email)),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}
