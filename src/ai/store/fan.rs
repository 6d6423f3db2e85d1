//! One fan's own rows: read by the fan's id only.

use sqlx::AnyPool;

#[derive(sqlx::FromRow)]
pub struct ProfileRow {
    pub club_id: Option<String>,
    pub club_name: Option<String>,
    pub club_country: Option<String>,
    pub club_currency: Option<String>,
    pub created_at: i64,
}

pub async fn profile(db: &AnyPool, fan: &str) -> Result<Option<ProfileRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.club_id, c.name AS club_name, c.country AS club_country,
                c.currency AS club_currency, u.created_at
           FROM users u LEFT JOIN clubs c ON c.id = u.club_id WHERE u.id = $1",
    )
    .bind(fan)
    .fetch_optional(db)
    .await
}

/// One of the fan's own rows, in one shape for one round trip: their
/// `profile` (id = club, title = club name, extra = club country), a
/// `follow`ed club (id, name, country), a `product` bought (id, name), a
/// `ticket` held (id = event, title = fixture, extra = country, status,
/// until = kick-off) or an `esim` (id = plan, title = plan name, extra =
/// the plan's countries, status, until = expiry).
#[derive(sqlx::FromRow, Debug)]
pub struct FanRow {
    pub kind: String,
    pub id: Option<String>,
    pub title: Option<String>,
    pub extra: Option<String>,
    pub status: Option<String>,
    pub at: i64,
    pub until: Option<i64>,
}

pub async fn fan_rows(db: &AnyPool, fan: &str) -> Result<Vec<FanRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT 'profile' AS kind, u.club_id AS id, c.name AS title, c.country AS extra,
                CAST(NULL AS TEXT) AS status, u.created_at AS at, CAST(NULL AS BIGINT) AS until
           FROM users u LEFT JOIN clubs c ON c.id = u.club_id WHERE u.id = $1
         UNION ALL
         SELECT 'follow', c.id, c.name, c.country, NULL, f.created_at, NULL
           FROM follows f JOIN clubs c ON c.id = f.target_id
          WHERE f.follower_id = $1 AND f.target_kind = 'club'
         UNION ALL
         SELECT 'product', l.product_id, l.name, l.club_id, NULL, o.created_at, NULL
           FROM orders o JOIN order_lines l ON l.order_id = o.id
          WHERE o.user_id = $1 AND o.status <> 'cancelled'
         UNION ALL
         SELECT 'ticket', t.event_id, c.name || ' – ' || e.away_team, c.country, t.status,
                t.created_at, e.kickoff_at
           FROM tickets t JOIN events e ON e.id = t.event_id JOIN clubs c ON c.id = e.home_club_id
          WHERE t.owner_id = $1 AND t.status IN ('valid', 'used')
         UNION ALL
         SELECT 'esim', e.plan_id, p.name, p.countries, e.status, e.created_at, e.expires_at
           FROM esims e JOIN esim_plans p ON p.id = e.plan_id
          WHERE e.user_id = $1 AND e.status <> 'failed'",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Clone)]
pub struct ClubRow {
    pub id: String,
    pub name: String,
    pub country: String,
}

pub async fn clubs(db: &AnyPool) -> Result<Vec<ClubRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, country FROM clubs ORDER BY id")
        .fetch_all(db)
        .await
}

pub async fn followed_clubs(db: &AnyPool, fan: &str) -> Result<Vec<ClubRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.name, c.country FROM follows f JOIN clubs c ON c.id = f.target_id
          WHERE f.follower_id = $1 AND f.target_kind = 'club' ORDER BY c.id",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Clone)]
pub struct LineRow {
    pub order_id: String,
    pub product_id: String,
    pub name: String,
    pub club_id: String,
    pub category: String,
    pub quantity: i64,
    pub total: i64,
    pub currency: String,
    pub created_at: i64,
}

/// The fan's shop purchases, one row per order line (with its order's total).
pub async fn order_lines(db: &AnyPool, fan: &str) -> Result<Vec<LineRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id AS order_id, l.product_id, l.name, l.club_id, p.category, l.quantity,
                o.total, o.currency, o.created_at
           FROM orders o
           JOIN order_lines l ON l.order_id = o.id
           JOIN products p ON p.id = l.product_id
          WHERE o.user_id = $1 AND o.status <> 'cancelled'
          ORDER BY o.created_at, l.line_no",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Clone)]
pub struct TicketRow {
    pub event_id: String,
    pub buyer_id: String,
    pub owner_id: String,
    pub status: String,
    pub checked_in: i64,
    pub price: i64,
    pub currency: String,
    pub created_at: i64,
    pub home_club_id: String,
    pub home_name: String,
    pub home_country: String,
    pub away_club_id: Option<String>,
    pub away_team: String,
    pub kickoff_at: i64,
}

/// Tickets the fan holds or bought (refunded and revoked ones excluded).
pub async fn tickets(db: &AnyPool, fan: &str) -> Result<Vec<TicketRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.event_id, t.buyer_id, t.owner_id, t.status,
                CASE WHEN t.first_used_at IS NULL THEN 0 ELSE 1 END AS checked_in,
                t.price, t.currency, t.created_at,
                e.home_club_id, c.name AS home_name, c.country AS home_country,
                e.away_club_id, e.away_team, e.kickoff_at
           FROM tickets t
           JOIN events e ON e.id = t.event_id
           JOIN clubs c ON c.id = e.home_club_id
          WHERE (t.owner_id = $1 OR t.buyer_id = $1) AND t.status IN ('valid', 'used')
          ORDER BY t.created_at",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Clone)]
pub struct EsimRow {
    pub plan_id: String,
    pub name: String,
    /// JSON array.
    pub countries: String,
    pub status: String,
    pub expires_at: Option<i64>,
    pub price: i64,
    pub currency: String,
    pub created_at: i64,
}

pub async fn esims(db: &AnyPool, fan: &str) -> Result<Vec<EsimRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.plan_id, p.name, p.countries, e.status, e.expires_at, e.price, e.currency, e.created_at
           FROM esims e JOIN esim_plans p ON p.id = e.plan_id
          WHERE e.user_id = $1 AND e.status <> 'failed'
          ORDER BY e.created_at",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct LedgerRow {
    pub kind: String,
    pub reference_type: Option<String>,
    pub reference_id: Option<String>,
    pub currency: String,
    pub amount: i64,
    pub created_at: i64,
}

/// The fan's payments for purchases (`purchase`, `ticket`, `esim`; and
/// `commission`, which fans paid the platform directly in ledgers written
/// before clubs paid it) and their refunds, from the ledger.
pub async fn spending(db: &AnyPool, fan: &str) -> Result<Vec<LedgerRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.kind, t.reference_type, t.reference_id, t.currency, t.amount, t.created_at
           FROM accounts a JOIN transfers t ON t.debit_account_id = a.id
          WHERE a.kind = 'user' AND a.owner_id = $1 AND t.kind IN ('purchase', 'ticket', 'esim', 'commission')
         UNION ALL
         SELECT t.kind, t.reference_type, t.reference_id, t.currency, t.amount, t.created_at
           FROM accounts a JOIN transfers t ON t.credit_account_id = a.id
          WHERE a.kind = 'user' AND a.owner_id = $1 AND t.kind = 'refund'",
    )
    .bind(fan)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow, Default)]
pub struct EngagementRow {
    pub messages: i64,
    pub posts: i64,
    pub likes: i64,
    pub comments: i64,
    pub recent: i64,
    pub last_30: i64,
    pub previous_30: i64,
}

pub async fn engagement(db: &AnyPool, fan: &str, now: i64) -> Result<EngagementRow, sqlx::Error> {
    let day = 86_400_000;
    sqlx::query_as(
        "SELECT
           (SELECT COUNT(*) FROM messages WHERE user_id = $1 AND deleted_at IS NULL) AS messages,
           (SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL) AS posts,
           (SELECT COUNT(*) FROM post_likes WHERE user_id = $1) AS likes,
           (SELECT COUNT(*) FROM post_comments WHERE user_id = $1 AND deleted_at IS NULL) AS comments,
           (SELECT COUNT(*) FROM messages WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $2)
             + (SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND created_at > $2)
             + (SELECT COUNT(*) FROM post_likes WHERE user_id = $1 AND created_at > $2)
             + (SELECT COUNT(*) FROM post_comments WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $2) AS recent,
           (SELECT COUNT(*) FROM messages WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $3)
             + (SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND created_at > $3)
             + (SELECT COUNT(*) FROM post_likes WHERE user_id = $1 AND created_at > $3)
             + (SELECT COUNT(*) FROM post_comments WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $3) AS last_30,
           (SELECT COUNT(*) FROM messages WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $4 AND created_at <= $3)
             + (SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND created_at > $4 AND created_at <= $3)
             + (SELECT COUNT(*) FROM post_likes WHERE user_id = $1 AND created_at > $4 AND created_at <= $3)
             + (SELECT COUNT(*) FROM post_comments WHERE user_id = $1 AND deleted_at IS NULL AND created_at > $4 AND created_at <= $3) AS previous_30",
    )
    .bind(fan)
    .bind(now - 90 * day)
    .bind(now - 30 * day)
    .bind(now - 60 * day)
    .fetch_one(db)
    .await
}
