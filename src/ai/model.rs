//! What recommendations, insights and predictions answer, and what they take.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::validate::{Checks, Validate};

crate::status_enum!(
    /// What is recommended: a shop `product`, a match (`event`) or an `esim_plan`.
    ItemKind {
        Product = "product",
        Event = "event",
        EsimPlan = "esim_plan",
    }
);

crate::status_enum!(
    /// The evidence that weighed most: `co_purchase` (fans who bought what
    /// you have also bought it), `club_popularity` (your or a followed club's
    /// fans buy it), `popularity` (fans of every club buy it),
    /// `upcoming_match` (your or a followed club plays), `away_trip` (a plan
    /// that covers the country of an away match).
    Source {
        CoPurchase = "co_purchase",
        ClubPopularity = "club_popularity",
        Popularity = "popularity",
        UpcomingMatch = "upcoming_match",
        AwayTrip = "away_trip",
    }
);

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RecommendationsQuery {
    /// 1 to 50, default 10.
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
}

impl Validate for RecommendationsQuery {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        if let Some(l) = self.limit {
            c.range("limit", l, 1, 50);
        }
        c.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// `<type>:<itemId>`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ItemKind,
    /// The product, event or plan id.
    pub item_id: String,
    pub title: String,
    pub subtitle: String,
    pub content: String,
    pub tags: Vec<String>,
    /// Ranking strength in (0, 1): `1 - e^(-score)`; not a calibrated probability.
    pub confidence: f64,
    /// Why, in one sentence built from the evidence.
    pub reason: String,
    pub source: Source,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// When the co-occurrence model in use was built (null: none built yet).
    pub built_at: Option<String>,
    pub fans: u32,
    pub interactions: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recommendations {
    pub recommendations: Vec<Recommendation>,
    pub model: ModelInfo,
}

/// An amount of one category or month.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Spent {
    /// `shop`, `tickets` or `esim` (by category) or `YYYY-MM` (by month).
    pub key: String,
    /// Net of refunds, a decimal string in `currency`.
    pub amount: String,
    /// Payments counted (refunds not included).
    pub payments: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Spending {
    pub currency: String,
    pub total: String,
    pub by_category: Vec<Spent>,
    /// Oldest month first.
    pub by_month: Vec<Spent>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamEvidence {
    /// The club the fan registered with.
    pub registered: bool,
    pub follows: bool,
    /// Shop items of this club bought.
    pub purchases: u32,
    /// Tickets for matches this club played.
    pub tickets: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FavoriteTeam {
    pub club_id: String,
    pub name: String,
    /// This club's share of the fan's club signals (registration 3,
    /// follow 2, each purchase and ticket 1).
    pub confidence: f64,
    pub evidence: TeamEvidence,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FavoritePlayer {
    pub name: String,
    pub club_id: String,
    /// This player's share of the fan's player-named purchases.
    pub confidence: f64,
    /// Player-named products bought (signed shirts and the like).
    pub products: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShoppingStyle {
    /// `matchday` (tickets most), `collector` (shop most, mostly jerseys
    /// or player items), `supporter` (shop most), `traveller` (eSIMs most),
    /// `balanced` (no kind above half), `newcomer` (nothing bought yet).
    pub style: String,
    /// The share of purchases of the kind that decided the style.
    pub confidence: f64,
    pub evidence: PurchaseCounts,
}

#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseCounts {
    /// Shop orders.
    pub orders: u32,
    /// Ticket purchases (one per payment, whatever the number of seats).
    pub tickets: u32,
    pub esims: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FavoriteCategory {
    pub category: String,
    /// Items of this category bought (quantities summed).
    pub items: u32,
}

#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Engagement {
    pub messages: u32,
    pub posts: u32,
    pub likes: u32,
    pub comments: u32,
    /// The four above in the last 90 days.
    pub last_90_days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LevelThreshold {
    pub level: String,
    pub min_points: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FanLevel {
    pub current: String,
    /// 10 per match attended, 5 per purchase, 1 per message, post, comment or like.
    pub points: u32,
    /// Points expected in 12 months at the pace of the last 90 days.
    pub predicted_points: u32,
    pub next: Option<String>,
    pub points_to_next: Option<u32>,
    pub thresholds: Vec<LevelThreshold>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FanInsights {
    pub favorite_team: Option<FavoriteTeam>,
    /// Null without a player-named purchase.
    pub favorite_player: Option<FavoritePlayer>,
    pub shopping_style: ShoppingStyle,
    pub favorite_category: Option<FavoriteCategory>,
    /// Probability of at least one purchase in the next 30 days (see predictions).
    pub next_purchase_probability: f64,
    /// The fan's messages, posts, comments and likes of the last 90 days
    /// against the average fan's ((mine + 1) / (average + 1)).
    pub engagement_multiplier: f64,
    /// Expected spend over the next 12 months, in `currency`.
    pub predicted_value: String,
    pub currency: String,
    /// The level `level.predictedPoints` reaches.
    pub predicted_level: String,
    pub level: FanLevel,
    /// Checked-in tickets (distinct matches).
    pub matches_attended: u32,
    pub engagement: Engagement,
    /// Per currency, from the fan's ledger.
    pub spending: Vec<Spending>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Insights {
    pub insights: FanInsights,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedGoals {
    pub home: f64,
    pub away: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchPrediction {
    pub event_id: String,
    pub home_team: String,
    pub away_team: String,
    pub kickoff: String,
    /// Probabilities of a home win, a draw and an away win; they sum to 1.
    pub home: f64,
    pub draw: f64,
    pub away: f64,
    pub expected_goals: ExpectedGoals,
    /// Whether the model has results of each side (an unknown side is rated
    /// as an average team).
    pub home_known: bool,
    pub away_known: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchModelInfo {
    pub method: String,
    /// Results the ratings were fitted on.
    pub results: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseEvidence {
    pub purchases_last_180_days: u32,
    /// Days of history looked at (at most 180, fewer for a newer account).
    pub observed_days: u32,
    pub average_purchase: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NextPurchase {
    /// Of at least one purchase in the next 30 days.
    pub probability: f64,
    /// The kind bought most (`shop`, `tickets`, `esim`; the shop category when it is the shop).
    pub category: String,
    /// Expected spend in the next 30 days.
    pub estimated_amount: String,
    pub currency: String,
    pub timeframe: String,
    pub method: String,
    pub evidence: PurchaseEvidence,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EngagementForecast {
    /// Fan level points now.
    pub current_level: u32,
    /// In 12 months at the pace of the last 90 days.
    pub predicted_level: u32,
    /// `up`, `down` or `stable`: the last 30 days against the 30 before.
    pub trend: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lifetime {
    /// Spent so far, net of refunds.
    pub current_value: String,
    /// Plus the expected spend of the next 12 months.
    pub predicted_value: String,
    pub currency: String,
    pub timeframe: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FanPredictions {
    /// One per upcoming match of the fan's club and followed clubs.
    pub matches: Vec<MatchPrediction>,
    pub match_model: MatchModelInfo,
    pub next_purchase: NextPurchase,
    pub engagement: EngagementForecast,
    pub lifetime: Lifetime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Predictions {
    pub predictions: FanPredictions,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewResult {
    #[schema(minimum = 0, maximum = 99)]
    pub home_goals: i64,
    #[schema(minimum = 0, maximum = 99)]
    pub away_goals: i64,
}

impl Validate for NewResult {
    fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checks::new();
        c.range("homeGoals", self.home_goals, 0, 99);
        c.range("awayGoals", self.away_goals, 0, 99);
        c.finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamRating {
    pub team: String,
    /// Goals scored against an average defence, relative to the average attack (1).
    pub attack: f64,
    /// Goals conceded per match against an average attack.
    pub defence: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedResult {
    pub event_id: String,
    pub home_team: String,
    pub away_team: String,
    pub home_goals: u32,
    pub away_goals: u32,
    pub played_at: String,
    /// The ratings refitted with this result.
    pub home_rating: TeamRating,
    pub away_rating: TeamRating,
    pub home_advantage: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    pub built_at: String,
    pub fans: u32,
    pub interactions: u32,
    pub items: u32,
    pub build_ms: u64,
}
