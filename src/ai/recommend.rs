//! The recommender: item-to-item co-occurrence (cosine over fans, recent
//! purchases weighing more) built once from everyone's purchases, tickets
//! and eSIMs; and the ranking of one fan's candidates, which is lookups in
//! that model plus the fan's own club, follows and trips. Pure: no SQL, so
//! the offline evaluation ranks with exactly this code.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ai::model::{ItemKind, Source};
use crate::ai::reasons::{Followed, Reason, explain};
pub use crate::ai::reasons::{confidence, day_label};

const DAY_MS: f64 = 86_400_000.0;
/// Fans who must have bought two items for them to be neighbours.
pub const MIN_TOGETHER: u32 = 2;

/// `product:<id>`, `event:<id>` or `esim_plan:<id>`.
pub fn key(kind: ItemKind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

/// One fan having bought (or attended, or travelled with) one item.
#[derive(Debug, Clone)]
pub struct Interaction {
    pub fan: String,
    pub item: String,
    pub at: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct BuildSettings {
    /// An interaction this many days old counts half.
    pub half_life_days: f64,
    /// Neighbours kept per item.
    pub neighbours: usize,
    /// Popular items kept per club.
    pub popular: usize,
    /// Pulls the similarity of pairs seen together by few fans towards 0.
    pub shrink: f64,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            half_life_days: 120.0,
            neighbours: 30,
            popular: 60,
            shrink: 3.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Neighbour {
    pub item: String,
    pub score: f32,
    /// Fans who have both.
    pub together: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Popular {
    pub item: String,
    /// 1 for the club's most popular item.
    pub score: f32,
    pub fans: u32,
}

/// What answering needs, built on a schedule, kept in memory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Model {
    pub built_at: i64,
    pub fans: u32,
    pub interactions: u32,
    pub neighbours: HashMap<String, Vec<Neighbour>>,
    /// Among fans of each club.
    pub club_popular: HashMap<String, Vec<Popular>>,
    pub popular: Vec<Popular>,
}

impl Model {
    /// `clubs` maps a fan to their club.
    pub fn build(
        interactions: &[Interaction],
        clubs: &HashMap<String, String>,
        now: i64,
        s: BuildSettings,
    ) -> Model {
        let decay = |at: i64| {
            let age = ((now - at).max(0) as f64) / DAY_MS;
            0.5f64.powf(age / s.half_life_days)
        };
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut items: Vec<&str> = Vec::new();
        // Per fan: item -> weight (a repeat purchase does not count twice).
        // Ordered, so sums come out the same on every run.
        let mut by_fan: BTreeMap<&str, HashMap<u32, f64>> = BTreeMap::new();
        for i in interactions {
            let id = *index.entry(&i.item).or_insert_with(|| {
                items.push(&i.item);
                (items.len() - 1) as u32
            });
            let w = decay(i.at);
            let e = by_fan.entry(&i.fan).or_default().entry(id).or_insert(0.0);
            *e = e.max(w);
        }
        let n = items.len();
        let mut norm = vec![0.0f64; n];
        let mut fans_of = vec![0u32; n];
        let mut pairs: HashMap<(u32, u32), (f64, u32)> = HashMap::new();
        let mut club_pop: HashMap<&str, HashMap<u32, (f64, u32)>> = HashMap::new();
        let mut global = vec![0.0f64; n];
        for (fan, bought) in &by_fan {
            let mut list: Vec<(u32, f64)> = bought.iter().map(|(i, w)| (*i, *w)).collect();
            // A reseller-sized basket says little about taste and costs n²:
            // keep its 200 most recent items, whatever order rows came in.
            list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            list.truncate(200);
            list.sort_by_key(|a| a.0);
            for (pos, (i, wi)) in list.iter().enumerate() {
                norm[*i as usize] += wi * wi;
                fans_of[*i as usize] += 1;
                global[*i as usize] += wi;
                if let Some(club) = clubs.get(*fan) {
                    let e = club_pop.entry(club).or_default().entry(*i).or_default();
                    e.0 += wi;
                    e.1 += 1;
                }
                for (j, wj) in &list[pos + 1..] {
                    let e = pairs.entry((*i, *j)).or_default();
                    e.0 += wi * wj;
                    e.1 += 1;
                }
            }
        }
        let mut neighbours: HashMap<String, Vec<Neighbour>> = HashMap::new();
        for ((i, j), (dot, together)) in pairs {
            // One fan's basket is an anecdote, and quoting it would tell
            // others what that fan bought.
            if together < MIN_TOGETHER {
                continue;
            }
            let denom = (norm[i as usize] * norm[j as usize]).sqrt();
            if denom <= 0.0 {
                continue;
            }
            let t = f64::from(together);
            let score = (dot / denom * t / (t + s.shrink)) as f32;
            for (a, b) in [(i, j), (j, i)] {
                neighbours
                    .entry(items[a as usize].to_owned())
                    .or_default()
                    .push(Neighbour {
                        item: items[b as usize].to_owned(),
                        score,
                        together,
                    });
            }
        }
        for list in neighbours.values_mut() {
            list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
            list.truncate(s.neighbours);
        }
        let top = |scores: Vec<(u32, f64, u32)>| -> Vec<Popular> {
            let mut v = scores;
            v.sort_by(|a, b| {
                b.1.total_cmp(&a.1)
                    .then(items[a.0 as usize].cmp(items[b.0 as usize]))
            });
            v.truncate(s.popular);
            let best = v.first().map(|x| x.1).unwrap_or(1.0).max(f64::MIN_POSITIVE);
            v.into_iter()
                .map(|(i, score, fans)| Popular {
                    item: items[i as usize].to_owned(),
                    score: (score / best) as f32,
                    fans,
                })
                .collect()
        };
        let club_popular = club_pop
            .into_iter()
            .map(|(club, m)| {
                let v = m.into_iter().map(|(i, (w, f))| (i, w, f)).collect();
                (club.to_owned(), top(v))
            })
            .collect();
        let popular = top(global
            .iter()
            .enumerate()
            .map(|(i, w)| (i as u32, *w, fans_of[i]))
            .collect());
        Model {
            built_at: now,
            fans: by_fan.len() as u32,
            interactions: interactions.len() as u32,
            neighbours,
            club_popular,
            popular,
        }
    }
}

/// Something the fan already has.
#[derive(Debug, Clone)]
pub struct Owned {
    pub item: String,
    pub title: String,
    pub at: i64,
}

/// A match abroad the fan's club plays (and the fan may hold a ticket for).
#[derive(Debug, Clone)]
pub struct Trip {
    pub country: String,
    pub country_name: String,
    /// "PSG – AS Monaco".
    pub fixture: String,
    pub kickoff: i64,
    pub with_ticket: bool,
}

/// The fan, as ranking sees them.
#[derive(Debug, Clone, Default)]
pub struct Fan {
    pub club: Option<String>,
    pub club_name: Option<String>,
    pub follows: Vec<(String, String)>,
    pub history: Vec<Owned>,
    /// Items that make no sense twice (products bought, matches with a
    /// ticket, plans with a usable eSIM).
    pub owned: HashSet<String>,
    pub trips: Vec<Trip>,
    /// Countries a usable eSIM of the fan's already covers.
    pub covered: HashSet<String>,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct EventInfo {
    pub home_club: String,
    pub home_name: String,
    pub away_club: Option<String>,
    pub away_name: String,
    pub kickoff: i64,
    /// Where it is played (the home club's country).
    pub country: String,
}

/// A candidate on sale now, as the store found it.
#[derive(Debug, Clone)]
pub struct Item {
    pub key: String,
    pub kind: ItemKind,
    pub id: String,
    pub club: Option<String>,
    pub title: String,
    pub subtitle: String,
    pub content: String,
    pub tags: Vec<String>,
    /// Countries a plan covers.
    pub countries: Vec<String>,
    pub event: Option<EventInfo>,
}

#[derive(Debug, Clone)]
pub struct Ranked<'a> {
    pub item: &'a Item,
    pub score: f64,
    pub confidence: f64,
    pub reason: String,
    pub source: Source,
}

/// The items whose availability the store must check for this fan: the
/// neighbours of what they have and what their clubs' fans buy.
pub fn candidates<'m>(model: &'m Model, fan: &Fan) -> Vec<&'m str> {
    let mut out: HashSet<&str> = HashSet::new();
    for h in &fan.history {
        if let Some(list) = model.neighbours.get(&h.item) {
            out.extend(list.iter().map(|n| n.item.as_str()));
        }
    }
    let clubs = fan.club.iter().chain(fan.follows.iter().map(|(id, _)| id));
    for c in clubs {
        if let Some(list) = model.club_popular.get(c) {
            out.extend(list.iter().map(|p| p.item.as_str()));
        }
    }
    out.extend(model.popular.iter().take(20).map(|p| p.item.as_str()));
    out.into_iter()
        .filter(|k| !fan.owned.contains(*k))
        .collect()
}

struct Evidence<'a> {
    score: f64,
    source: Source,
    reason: Reason<'a>,
}

/// Ranks `catalogue` (items on sale) for `fan`; the best `limit`. Only
/// items with some evidence are ranked at all.
pub fn rank<'a>(
    model: &Model,
    fan: &Fan,
    catalogue: impl IntoIterator<Item = &'a Item>,
    limit: usize,
) -> Vec<Ranked<'a>> {
    let now_weight = |at: i64| 0.5f64.powf(((fan.now - at).max(0) as f64 / DAY_MS) / 120.0);
    // Item -> (summed similarity, strongest seed and its share).
    let mut cf: HashMap<&str, (f64, f64, &str, u32)> = HashMap::new();
    for h in &fan.history {
        let w = now_weight(h.at).max(0.05);
        for n in model.neighbours.get(&h.item).into_iter().flatten() {
            let part = w * f64::from(n.score);
            let e = cf.entry(&n.item).or_insert((0.0, 0.0, "", 0));
            e.0 += part;
            if part > e.1 {
                e.1 = part;
                e.2 = &h.title;
                e.3 = n.together;
            }
        }
    }
    let pop_in = |club: &str| -> HashMap<&str, (f32, u32)> {
        model
            .club_popular
            .get(club)
            .into_iter()
            .flatten()
            .map(|p| (p.item.as_str(), (p.score, p.fans)))
            .collect()
    };
    let own = fan.club.as_deref().map(pop_in).unwrap_or_default();
    let followed: Vec<Followed> = fan
        .follows
        .iter()
        .map(|(id, name)| (id.as_str(), name.as_str(), pop_in(id)))
        .collect();
    let global: HashMap<&str, (f32, u32)> = model
        .popular
        .iter()
        .map(|p| (p.item.as_str(), (p.score, p.fans)))
        .collect();
    let is_followed = |club: &str| followed.iter().any(|(id, _, _)| *id == club);

    let mut out = Vec::new();
    for item in catalogue {
        if fan.owned.contains(&item.key) {
            continue;
        }
        let mut parts: Vec<Evidence> = Vec::new();
        if let Some((sum, _, seed, together)) = cf.get(item.key.as_str()) {
            parts.push(Evidence {
                score: *sum,
                source: Source::CoPurchase,
                reason: Reason::Together {
                    seed,
                    together: *together,
                },
            });
        }
        if let Some((s, fans)) = own.get(item.key.as_str()) {
            parts.push(Evidence {
                score: 0.35 * f64::from(*s),
                source: Source::ClubPopularity,
                reason: Reason::Popular {
                    club: fan.club_name.as_deref(),
                    fans: *fans,
                },
            });
        }
        for (_, name, pop) in &followed {
            if let Some((s, fans)) = pop.get(item.key.as_str()) {
                parts.push(Evidence {
                    score: 0.2 * f64::from(*s),
                    source: Source::ClubPopularity,
                    reason: Reason::Popular {
                        club: Some(name),
                        fans: *fans,
                    },
                });
            }
        }
        if let Some((s, fans)) = global.get(item.key.as_str()) {
            parts.push(Evidence {
                score: 0.1 * f64::from(*s),
                source: Source::Popularity,
                reason: Reason::Popular {
                    club: None,
                    fans: *fans,
                },
            });
        }
        if let Some(e) = &item.event {
            let plays = |c: &str| e.home_club == c || e.away_club.as_deref() == Some(c);
            if fan.club.as_deref().is_some_and(plays) {
                parts.push(Evidence {
                    score: 0.45,
                    source: Source::UpcomingMatch,
                    reason: Reason::Match,
                });
            } else if followed.iter().any(|(id, _, _)| plays(id)) {
                parts.push(Evidence {
                    score: 0.3,
                    source: Source::UpcomingMatch,
                    reason: Reason::Match,
                });
            }
        }
        if item.kind == ItemKind::EsimPlan {
            for t in &fan.trips {
                if fan.covered.contains(&t.country) || !item.countries.contains(&t.country) {
                    continue;
                }
                parts.push(Evidence {
                    score: if t.with_ticket { 1.0 } else { 0.4 },
                    source: Source::AwayTrip,
                    reason: Reason::Trip(t),
                });
            }
        }
        let mut score: f64 = parts.iter().map(|p| p.score).sum();
        if score <= 0.0 {
            continue;
        }
        match item.club.as_deref() {
            Some(c) if fan.club.as_deref() == Some(c) => score *= 1.3,
            Some(c) if is_followed(c) => score *= 1.15,
            _ => {}
        }
        let Some(best) = parts.into_iter().max_by(|a, b| a.score.total_cmp(&b.score)) else {
            continue;
        };
        out.push((score, item, best));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.key.cmp(&b.1.key)));
    out.truncate(limit);
    // Sentences only for what is shown.
    out.into_iter()
        .map(|(score, item, best)| Ranked {
            item,
            score,
            confidence: confidence(score),
            reason: explain(&best.reason, item, fan, &followed),
            source: best.source,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn bought(fan: &str, item: &str, at: i64) -> Interaction {
        Interaction {
            fan: fan.into(),
            item: item.into(),
            at,
        }
    }

    fn product(id: &str, club: &str) -> Item {
        Item {
            key: key(ItemKind::Product, id),
            kind: ItemKind::Product,
            id: id.into(),
            club: Some(club.into()),
            title: id.into(),
            subtitle: String::new(),
            content: String::new(),
            tags: vec![],
            countries: vec![],
            event: None,
        }
    }

    fn clubs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(f, c)| (f.to_string(), c.to_string()))
            .collect()
    }

    #[test]
    fn items_bought_together_are_neighbours_and_a_recent_pair_outweighs_an_old_one() {
        let now = 400 * DAY;
        let mut v = Vec::new();
        for f in 0..5 {
            let fan = format!("recent{f}");
            v.push(bought(&fan, "product:shirt", now - DAY));
            v.push(bought(&fan, "product:scarf", now - DAY));
            let fan = format!("old{f}");
            v.push(bought(&fan, "product:shirt", now - 360 * DAY));
            v.push(bought(&fan, "product:cap", now - 360 * DAY));
        }
        let m = Model::build(&v, &HashMap::new(), now, BuildSettings::default());
        let n = &m.neighbours["product:shirt"];
        assert_eq!(n[0].item, "product:scarf");
        assert_eq!(n[0].together, 5);
        assert!(n[0].score > n[1].score);
        assert_eq!(m.fans, 10);
    }

    #[test]
    fn ranking_explains_itself_and_never_offers_what_the_fan_has() {
        let now = 100 * DAY;
        let mut v = Vec::new();
        for f in 0..4 {
            v.push(bought(&format!("f{f}"), "product:shirt", now - DAY));
            v.push(bought(&format!("f{f}"), "product:scarf", now - DAY));
        }
        let m = Model::build(&v, &HashMap::new(), now, BuildSettings::default());
        let fan = Fan {
            history: vec![Owned {
                item: "product:shirt".into(),
                title: "the home shirt".into(),
                at: now - DAY,
            }],
            owned: ["product:shirt".to_owned()].into(),
            now,
            ..Fan::default()
        };
        let catalogue = [product("shirt", "A"), product("scarf", "A")];
        let r = rank(&m, &fan, &catalogue, 10);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].item.id, "scarf");
        assert_eq!(r[0].source, Source::CoPurchase);
        assert_eq!(
            r[0].reason,
            "Fans who bought the home shirt also bought this (4 fans)."
        );
        assert!(r[0].confidence > 0.0 && r[0].confidence < 1.0);
    }

    #[test]
    fn a_new_fan_gets_what_their_clubs_fans_buy() {
        let now = 100 * DAY;
        let v = vec![
            bought("a1", "product:a-shirt", now),
            bought("a2", "product:a-shirt", now),
            bought("a2", "product:a-cap", now),
            bought("b1", "product:b-shirt", now),
            bought("b2", "product:b-shirt", now),
            bought("b3", "product:b-shirt", now),
        ];
        let club_of = clubs(&[
            ("a1", "A"),
            ("a2", "A"),
            ("b1", "B"),
            ("b2", "B"),
            ("b3", "B"),
        ]);
        let m = Model::build(&v, &club_of, now, BuildSettings::default());
        let fan = Fan {
            club: Some("A".into()),
            club_name: Some("Club A".into()),
            now,
            ..Fan::default()
        };
        let catalogue = [
            product("a-shirt", "A"),
            product("a-cap", "A"),
            product("b-shirt", "B"),
        ];
        let r = rank(&m, &fan, &catalogue, 3);
        assert_eq!(r[0].item.id, "a-shirt");
        assert_eq!(r[0].source, Source::ClubPopularity);
        assert_eq!(
            r[0].reason, "Popular with Club A fans.",
            "two fans are not quoted"
        );
        assert_eq!(
            r[2].item.id, "b-shirt",
            "the other club's best seller comes last"
        );
    }

    #[test]
    fn a_trip_abroad_brings_a_plan_that_covers_the_country_unless_one_is_held() {
        let plan = |id: &str, countries: &[&str]| Item {
            key: key(ItemKind::EsimPlan, id),
            kind: ItemKind::EsimPlan,
            id: id.into(),
            club: None,
            title: id.into(),
            subtitle: String::new(),
            content: String::new(),
            tags: vec![],
            countries: countries.iter().map(|c| c.to_string()).collect(),
            event: None,
        };
        let mut fan = Fan {
            trips: vec![Trip {
                country: "ES".into(),
                country_name: "Spain".into(),
                fixture: "Sevilla – AS Monaco".into(),
                kickoff: 3 * DAY,
                with_ticket: true,
            }],
            now: DAY,
            ..Fan::default()
        };
        let catalogue = [plan("europe", &["ES", "FR"]), plan("africa", &["MA"])];
        let r = rank(&Model::default(), &fan, &catalogue, 5);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].item.id, "europe");
        assert_eq!(r[0].source, Source::AwayTrip);
        assert!(
            r[0].reason
                .starts_with("You travel to Spain for Sevilla – AS Monaco on Sunday 4 January"),
            "{}",
            r[0].reason
        );
        fan.covered.insert("ES".into());
        assert!(rank(&Model::default(), &fan, &catalogue, 5).is_empty());
    }

    #[test]
    fn confidence_grows_with_the_score_and_stays_inside_zero_and_one() {
        assert!(confidence(0.1) < confidence(1.0));
        assert_eq!(confidence(100.0), 0.99);
        assert_eq!(confidence(0.0), 0.01);
    }
}
