//! One fan's insights and forecasts, computed from their own rows only
//! (the store reads them by the fan's id) and the population's averages.
//! Pure: every number here can be checked by hand from the evidence it
//! returns.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ai::catalogue::money;
use crate::ai::model::*;
use crate::ai::store::{
    ClubRow, EngagementRow, EsimRow, LedgerRow, LineRow, Population, ProfileRow, TicketRow,
};

const DAY_MS: i64 = 86_400_000;

/// Fan levels by points (10 per match attended, 5 per purchase, 1 per
/// message, post, comment or like).
pub const LEVELS: &[(&str, u32)] = &[
    ("Rookie", 0),
    ("Supporter", 50),
    ("Ultra", 200),
    ("Legend", 600),
];

/// Players whose name on a product (a signed shirt, a flocked jersey) makes
/// it a player item, by club. Names are matched without case or accents.
pub const PLAYERS: &[(&str, &str)] = &[
    ("AS_MONACO", "Takumi Minamino"),
    ("AS_MONACO", "Denis Zakaria"),
    ("AS_MONACO", "Maghnes Akliouche"),
    ("AS_MONACO", "Lamine Camara"),
    ("AS_MONACO", "Folarin Balogun"),
    ("AS_MONACO", "Aleksandr Golovin"),
    ("AS_MONACO", "Wissam Ben Yedder"),
    ("PSG", "Ousmane Dembélé"),
    ("PSG", "Achraf Hakimi"),
    ("PSG", "Marquinhos"),
    ("PSG", "Vitinha"),
    ("PSG", "Khvicha Kvaratskhelia"),
    ("PSG", "Désiré Doué"),
    ("PSG", "Bradley Barcola"),
    ("OL", "Corentin Tolisso"),
    ("OL", "Alexandre Lacazette"),
    ("OL", "Nicolás Tagliafico"),
    ("OM", "Mason Greenwood"),
    ("OM", "Pierre-Emerick Aubameyang"),
    ("OM", "Geronimo Rulli"),
    ("OM", "Leonardo Balerdi"),
];

/// Everything read for one fan.
pub struct FanData {
    pub fan: String,
    pub profile: ProfileRow,
    pub follows: Vec<ClubRow>,
    pub lines: Vec<LineRow>,
    pub tickets: Vec<TicketRow>,
    pub esims: Vec<EsimRow>,
    pub ledger: Vec<LedgerRow>,
    pub engagement: EngagementRow,
    /// Club id -> name, for the clubs the rows mention.
    pub club_names: HashMap<String, String>,
    pub now: i64,
}

/// One purchase: an order, one ticket payment or one eSIM.
#[derive(Debug, Clone)]
struct Purchase {
    kind: &'static str,
    at: i64,
    amount: i64,
    currency: String,
}

impl FanData {
    fn purchases(&self) -> Vec<Purchase> {
        let mut out = Vec::new();
        let mut orders = HashSet::new();
        for l in &self.lines {
            if orders.insert(&l.order_id) {
                out.push(Purchase {
                    kind: "shop",
                    at: l.created_at,
                    amount: l.total,
                    currency: l.currency.clone(),
                });
            }
        }
        // Seats bought together share their payment's time.
        let mut payments: BTreeMap<(&str, i64), Purchase> = BTreeMap::new();
        for t in self.tickets.iter().filter(|t| t.buyer_id == self.fan) {
            let e = payments
                .entry((&t.event_id, t.created_at))
                .or_insert(Purchase {
                    kind: "tickets",
                    at: t.created_at,
                    amount: 0,
                    currency: t.currency.clone(),
                });
            e.amount += t.price;
        }
        out.extend(payments.into_values());
        out.extend(self.esims.iter().map(|e| Purchase {
            kind: "esim",
            at: e.created_at,
            amount: e.price,
            currency: e.currency.clone(),
        }));
        out.sort_by_key(|p| p.at);
        out
    }

    fn counts(&self, purchases: &[Purchase]) -> PurchaseCounts {
        let n = |k: &str| purchases.iter().filter(|p| p.kind == k).count() as u32;
        PurchaseCounts {
            orders: n("shop"),
            tickets: n("tickets"),
            esims: n("esim"),
        }
    }

    /// The currency the fan spends in most, else their club's, else EUR.
    fn main_currency(&self, purchases: &[Purchase]) -> String {
        let mut by: HashMap<&str, i64> = HashMap::new();
        for p in purchases {
            *by.entry(&p.currency).or_default() += 1;
        }
        by.into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(c, _)| c.to_owned())
            .or_else(|| self.profile.club_currency.clone())
            .unwrap_or_else(|| "EUR".to_owned())
    }

    /// Tickets the fan holds and used (a ticket passed on counts for its holder).
    fn attended(&self) -> impl Iterator<Item = &TicketRow> {
        self.tickets
            .iter()
            .filter(|t| t.checked_in == 1 && t.owner_id == self.fan)
    }

    fn matches_attended(&self) -> u32 {
        self.attended()
            .map(|t| &t.event_id)
            .collect::<HashSet<_>>()
            .len() as u32
    }

    fn engagement(&self) -> Engagement {
        let e = &self.engagement;
        Engagement {
            messages: e.messages as u32,
            posts: e.posts as u32,
            likes: e.likes as u32,
            comments: e.comments as u32,
            last_90_days: e.recent as u32,
        }
    }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn month(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!("{:04}-{:02}", t.year(), u8::from(t.month())),
        Err(_) => String::new(),
    }
}

fn category_of(row: &LedgerRow) -> &'static str {
    match (row.kind.as_str(), row.reference_type.as_deref()) {
        ("purchase", _) | (_, Some("order")) => "shop",
        ("ticket", _) | (_, Some("ticket" | "event")) => "tickets",
        _ => "esim",
    }
}

/// Spending per currency, by category and by month, net of refunds.
pub fn spending(ledger: &[LedgerRow]) -> Vec<Spending> {
    let mut by_currency: BTreeMap<&str, Vec<&LedgerRow>> = BTreeMap::new();
    for r in ledger {
        by_currency.entry(&r.currency).or_default().push(r);
    }
    by_currency
        .into_iter()
        .map(|(currency, rows)| {
            let mut cats: BTreeMap<&str, (i64, u32)> = BTreeMap::new();
            let mut months: BTreeMap<String, (i64, u32)> = BTreeMap::new();
            // One order paid to several clubs is one payment.
            let mut seen: HashSet<(&str, Option<&str>)> = HashSet::new();
            let mut total = 0;
            for r in rows {
                let refund = r.kind == "refund";
                let signed = if refund { -r.amount } else { r.amount };
                // The commission is part of the same payment as its sale.
                let payment = !refund
                    && r.kind != "commission"
                    && seen.insert((category_of(r), r.reference_id.as_deref()));
                total += signed;
                let c = cats.entry(category_of(r)).or_default();
                c.0 += signed;
                let m = months.entry(month(r.created_at)).or_default();
                m.0 += signed;
                if payment {
                    c.1 += 1;
                    m.1 += 1;
                }
            }
            let list = |m: Vec<(String, (i64, u32))>| {
                m.into_iter()
                    .map(|(key, (amount, payments))| Spent {
                        key,
                        amount: money(amount, currency),
                        payments,
                    })
                    .collect()
            };
            Spending {
                currency: currency.to_owned(),
                total: money(total, currency),
                by_category: list(cats.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
                by_month: list(months.into_iter().collect()),
            }
        })
        .collect()
}

fn favorite_team(d: &FanData) -> Option<FavoriteTeam> {
    let mut score: HashMap<String, (f64, TeamEvidence)> = HashMap::new();
    let blank = || TeamEvidence {
        registered: false,
        follows: false,
        purchases: 0,
        tickets: 0,
    };
    if let Some(c) = &d.profile.club_id {
        let e = score.entry(c.clone()).or_insert((0.0, blank()));
        e.0 += 3.0;
        e.1.registered = true;
    }
    for f in &d.follows {
        let e = score.entry(f.id.clone()).or_insert((0.0, blank()));
        e.0 += 2.0;
        e.1.follows = true;
    }
    for l in &d.lines {
        let e = score.entry(l.club_id.clone()).or_insert((0.0, blank()));
        e.0 += 1.0;
        e.1.purchases += 1;
    }
    for t in &d.tickets {
        // A ticket counts for the side the fan supports when it is one of
        // theirs, else for the home club.
        let club = match (&d.profile.club_id, &t.away_club_id) {
            (Some(mine), Some(away)) if mine == away => away.clone(),
            _ => t.home_club_id.clone(),
        };
        let e = score.entry(club).or_insert((0.0, blank()));
        e.0 += 1.0;
        e.1.tickets += 1;
    }
    let total: f64 = score.values().map(|(s, _)| s).sum();
    let (club, (s, evidence)) = score
        .into_iter()
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0).then(b.0.cmp(&a.0)))?;
    Some(FavoriteTeam {
        name: d
            .club_names
            .get(&club)
            .cloned()
            .unwrap_or_else(|| club.clone()),
        club_id: club,
        confidence: round(s / total, 2),
        evidence,
    })
}

/// Lower case without accents, for matching names in product titles.
pub fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'Á' | 'À' | 'Â' | 'Ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Î' | 'Ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'Ó' | 'Ô' | 'Ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Û' | 'Ü' => 'u',
            'ç' | 'Ç' => 'c',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The player a product is named after: the full name, or the surname
/// (everything after the first name) as a whole word.
pub fn player_in(product: &str) -> Option<(&'static str, &'static str)> {
    let title = fold(product);
    let words: Vec<&str> = title
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .collect();
    PLAYERS.iter().copied().find(|(_, name)| {
        let n = fold(name);
        let surname = n.split_once(' ').map_or(n.as_str(), |(_, s)| s);
        title.contains(&n) || {
            let parts: Vec<&str> = surname.split(' ').collect();
            words.windows(parts.len()).any(|w| w == parts.as_slice())
        }
    })
}

fn favorite_player(d: &FanData) -> Option<FavoritePlayer> {
    let mut by: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    let mut total = 0usize;
    for l in &d.lines {
        if let Some(p) = player_in(&l.name) {
            by.entry(p).or_default().push(l.name.clone());
            total += 1;
        }
    }
    let ((club, name), products) = by
        .into_iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(&a.0)))?;
    Some(FavoritePlayer {
        name: name.to_owned(),
        club_id: club.to_owned(),
        confidence: round(products.len() as f64 / total as f64, 2),
        products,
    })
}

fn shopping_style(d: &FanData, counts: PurchaseCounts) -> ShoppingStyle {
    let total = counts.orders + counts.tickets + counts.esims;
    if total == 0 {
        return ShoppingStyle {
            style: "newcomer".into(),
            confidence: 1.0,
            evidence: counts,
        };
    }
    let share = |n: u32| f64::from(n) / f64::from(total);
    let (top, n) = [
        ("shop", counts.orders),
        ("tickets", counts.tickets),
        ("esim", counts.esims),
    ]
    .into_iter()
    .max_by_key(|(_, n)| *n)
    .unwrap_or(("shop", 0));
    let style = if share(n) <= 0.5 {
        "balanced"
    } else {
        match top {
            "tickets" => "matchday",
            "esim" => "traveller",
            _ => {
                let items: i64 = d.lines.iter().map(|l| l.quantity).sum();
                let collectible: i64 = d
                    .lines
                    .iter()
                    .filter(|l| l.category == "jerseys" || player_in(&l.name).is_some())
                    .map(|l| l.quantity)
                    .sum();
                if items > 0 && collectible * 2 > items {
                    "collector"
                } else {
                    "supporter"
                }
            }
        }
    };
    let confidence = if style == "balanced" {
        1.0 - share(n)
    } else {
        share(n)
    };
    ShoppingStyle {
        style: style.into(),
        confidence: round(confidence, 2),
        evidence: counts,
    }
}

fn favorite_category(d: &FanData) -> Option<FavoriteCategory> {
    let mut by: BTreeMap<&str, i64> = BTreeMap::new();
    for l in &d.lines {
        *by.entry(&l.category).or_default() += l.quantity;
    }
    by.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(c, n)| FavoriteCategory {
            category: c.to_owned(),
            items: n as u32,
        })
}

fn level_of(points: u32) -> &'static str {
    LEVELS
        .iter()
        .rev()
        .find(|(_, min)| points >= *min)
        .map_or("Rookie", |(l, _)| l)
}

/// The purchase forecast: a gamma-Poisson rate (the fan's purchases of the
/// last 180 days, with 30 days of the average fan as the prior), the chance
/// of at least one purchase in 30 days, and the spend expected.
pub struct Forecast {
    pub rate_per_day: f64,
    pub probability_30d: f64,
    pub average_purchase: i64,
    pub recent: u32,
    pub observed_days: u32,
    pub currency: String,
}

pub const PURCHASE_METHOD: &str = "Gamma-Poisson purchase rate: (purchases in the last 180 days + 30 days of the average fan's purchases, at least one a year) / (days observed + 30); probability = 1 - e^(-30 x rate); estimated amount = 30 x rate x average purchase (the fan's, pulled towards the average fan's by two purchases).";

fn forecast(d: &FanData, purchases: &[Purchase], pop: &Population) -> Forecast {
    let currency = d.main_currency(purchases);
    let since = d.now - 180 * DAY_MS;
    let recent = purchases.iter().filter(|p| p.at > since).count() as u32;
    let observed = (((d.now - d.profile.created_at).max(0) / DAY_MS) + 1).min(180) as u32;
    let prior_days = 30.0;
    // Even where nobody has bought yet, a fan is not certain never to buy.
    let prior_rate = pop.purchases_per_fan_day.max(1.0 / 365.0);
    let rate = (f64::from(recent) + prior_rate * prior_days) / (f64::from(observed) + prior_days);
    let mine: Vec<i64> = purchases
        .iter()
        .filter(|p| p.currency == currency)
        .map(|p| p.amount)
        .collect();
    let prior = pop
        .average_purchase
        .get(&currency)
        .copied()
        .or_else(|| (!mine.is_empty()).then(|| mine.iter().sum::<i64>() / mine.len() as i64))
        .unwrap_or(0);
    let average = (mine.iter().sum::<i64>() + 2 * prior) / (mine.len() as i64 + 2);
    Forecast {
        rate_per_day: rate,
        probability_30d: 1.0 - (-30.0 * rate).exp(),
        average_purchase: average,
        recent,
        observed_days: observed,
        currency,
    }
}

fn points(d: &FanData, purchases: usize) -> u32 {
    let e = &d.engagement;
    10 * d.matches_attended()
        + 5 * purchases as u32
        + (e.messages + e.posts + e.likes + e.comments) as u32
}

/// Points a year from now at the pace of the last 90 days.
fn predicted_points(d: &FanData, purchases: &[Purchase], now_points: u32) -> u32 {
    let since = d.now - 90 * DAY_MS;
    let recent_buys = purchases.iter().filter(|p| p.at > since).count() as u32;
    let recent_matches = d
        .attended()
        .filter(|t| t.kickoff_at > since)
        .map(|t| &t.event_id)
        .collect::<HashSet<_>>()
        .len() as u32;
    let pace = 10 * recent_matches + 5 * recent_buys + d.engagement.recent as u32;
    now_points + pace * 4
}

fn level(points: u32, predicted: u32) -> FanLevel {
    let next = LEVELS.iter().find(|(_, min)| *min > points);
    FanLevel {
        current: level_of(points).into(),
        points,
        predicted_points: predicted,
        next: next.map(|(l, _)| (*l).to_owned()),
        points_to_next: next.map(|(_, min)| min - points),
        thresholds: LEVELS
            .iter()
            .map(|(l, min)| LevelThreshold {
                level: (*l).into(),
                min_points: *min,
            })
            .collect(),
    }
}

pub fn insights(d: &FanData, pop: &Population) -> FanInsights {
    let purchases = d.purchases();
    let counts = d.counts(&purchases);
    let f = forecast(d, &purchases, pop);
    let pts = points(d, purchases.len());
    let predicted = predicted_points(d, &purchases, pts);
    let year = (365.0 * f.rate_per_day * f.average_purchase as f64).round() as i64;
    FanInsights {
        favorite_team: favorite_team(d),
        favorite_player: favorite_player(d),
        shopping_style: shopping_style(d, counts),
        favorite_category: favorite_category(d),
        next_purchase_probability: round(f.probability_30d, 3),
        engagement_multiplier: round(
            ((d.engagement.recent as f64 + 1.0) / (pop.engagement_per_fan + 1.0)).min(10.0),
            2,
        ),
        predicted_value: money(year, &f.currency),
        currency: f.currency.clone(),
        predicted_level: level_of(predicted).into(),
        level: level(pts, predicted),
        matches_attended: d.matches_attended(),
        engagement: d.engagement(),
        spending: spending(&d.ledger),
    }
}

/// The fan's part of `GET /api/ai/predictions` (matches are added by the core).
pub fn fan_forecasts(
    d: &FanData,
    pop: &Population,
) -> (NextPurchase, EngagementForecast, Lifetime) {
    let purchases = d.purchases();
    let f = forecast(d, &purchases, pop);
    let counts = d.counts(&purchases);
    let category = if counts.orders >= counts.tickets && counts.orders >= counts.esims {
        favorite_category(d).map_or_else(|| "shop".to_owned(), |c| c.category)
    } else if counts.tickets >= counts.esims {
        "tickets".to_owned()
    } else {
        "esim".to_owned()
    };
    let month = (30.0 * f.rate_per_day * f.average_purchase as f64).round() as i64;
    let year = (365.0 * f.rate_per_day * f.average_purchase as f64).round() as i64;
    let pts = points(d, purchases.len());
    let e = &d.engagement;
    let trend = if e.last_30 > e.previous_30 {
        "up"
    } else if e.last_30 < e.previous_30 {
        "down"
    } else {
        "stable"
    };
    let spent: i64 = d
        .ledger
        .iter()
        .filter(|r| r.currency == f.currency)
        .map(|r| {
            if r.kind == "refund" {
                -r.amount
            } else {
                r.amount
            }
        })
        .sum();
    (
        NextPurchase {
            probability: round(f.probability_30d, 3),
            category,
            estimated_amount: money(month, &f.currency),
            currency: f.currency.clone(),
            timeframe: "30 days".into(),
            method: PURCHASE_METHOD.into(),
            evidence: PurchaseEvidence {
                purchases_last_180_days: f.recent,
                observed_days: f.observed_days,
                average_purchase: money(f.average_purchase, &f.currency),
            },
        },
        EngagementForecast {
            current_level: pts,
            predicted_level: predicted_points(d, &purchases, pts),
            trend: trend.into(),
        },
        Lifetime {
            current_value: money(spent, &f.currency),
            predicted_value: money(spent + year, &f.currency),
            currency: f.currency,
            timeframe: "12 months".into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn players_are_found_by_full_name_or_surname_without_accents() {
        assert_eq!(
            player_in("Maillot signé Minamino"),
            Some(("AS_MONACO", "Takumi Minamino"))
        );
        assert_eq!(
            player_in("Maillot Dembele 10"),
            Some(("PSG", "Ousmane Dembélé"))
        );
        assert_eq!(
            player_in("Signed shirt Ben Yedder"),
            Some(("AS_MONACO", "Wissam Ben Yedder"))
        );
        assert_eq!(player_in("Maillot Domicile 2025/26"), None);
        assert_eq!(
            player_in("Yedder cap"),
            None,
            "half a surname is not a name"
        );
    }

    #[test]
    fn levels_follow_their_thresholds() {
        assert_eq!(level_of(0), "Rookie");
        assert_eq!(level_of(49), "Rookie");
        assert_eq!(level_of(50), "Supporter");
        assert_eq!(level_of(600), "Legend");
        let l = level(60, 300);
        assert_eq!(l.next.as_deref(), Some("Ultra"));
        assert_eq!(l.points_to_next, Some(140));
    }

    #[test]
    fn spending_is_net_of_refunds_by_category_and_month() {
        let row = |kind: &str, reference: &str, amount: i64, at: i64| LedgerRow {
            kind: kind.into(),
            reference_type: Some(reference.into()),
            reference_id: Some(format!("{reference}-{amount}")),
            currency: "EUR".into(),
            amount,
            created_at: at,
        };
        let jan = 1_767_225_600_000; // 2026-01-01
        let feb = jan + 31 * DAY_MS;
        let s = spending(&[
            row("purchase", "order", 8_999, jan),
            row("ticket", "event", 6_300, feb),
            row("commission", "event", 700, feb),
            row("refund", "ticket", 3_500, feb),
            row("esim", "esim", 999, feb),
        ]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].total, "134.98");
        let cat: Vec<(&str, &str, u32)> = s[0]
            .by_category
            .iter()
            .map(|c| (c.key.as_str(), c.amount.as_str(), c.payments))
            .collect();
        assert_eq!(
            cat,
            vec![
                ("esim", "9.99", 1),
                ("shop", "89.99", 1),
                ("tickets", "35.00", 1)
            ]
        );
        let months: Vec<&str> = s[0].by_month.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(months, vec!["2026-01", "2026-02"]);
        assert_eq!(s[0].by_month[1].amount, "44.99");
    }
}
