//! `paiecashfan ai evaluate`: the recommender and the match model measured
//! offline against their obvious baselines. The recommender is ranked with
//! the production code (`recommend::rank`) on a deterministic synthetic
//! population, leave-last-out; the match model is fitted on the shipped
//! real results before a cut-off and scored on the matches after it.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::ai::forecast::{self, FitSettings, Played, Ratings};
use crate::ai::model::ItemKind;
use crate::ai::recommend::{self, BuildSettings, Fan, Interaction, Item, Model, Owned};

const DAY_MS: i64 = 86_400_000;

/// SplitMix64: small, deterministic, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
    fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Population {
    pub fans: usize,
    pub seed: u64,
}

impl Default for Population {
    fn default() -> Self {
        Population {
            fans: 5_000,
            seed: 2026,
        }
    }
}

const CLUBS: usize = 8;
const CATEGORIES: usize = 5;
const PER_CATEGORY: usize = 5;
/// Club sizes: a few big clubs, a long tail.
const CLUB_WEIGHTS: [f64; CLUBS] = [30.0, 20.0, 15.0, 10.0, 10.0, 5.0, 5.0, 5.0];

fn product_id(club: usize, category: usize, n: usize) -> String {
    format!("c{club}-k{category}-{n}")
}

/// Fans with a club (75% of what they buy is their club's), two favourite
/// categories (70% of picks), popular items within each shelf, and two
/// pairs per club that go together (after buying the first, the second is
/// bought next 40% of the time).
pub struct Synthetic {
    pub interactions: Vec<Interaction>,
    pub clubs: HashMap<String, String>,
    pub catalogue: Vec<Item>,
    /// Each fan's purchases in order.
    pub baskets: Vec<(String, Vec<String>)>,
}

pub fn synthetic(p: Population, now: i64) -> Synthetic {
    let mut rng = Rng(p.seed);
    let mut catalogue = Vec::new();
    for c in 0..CLUBS {
        for k in 0..CATEGORIES {
            for n in 0..PER_CATEGORY {
                let id = product_id(c, k, n);
                catalogue.push(Item {
                    key: recommend::key(ItemKind::Product, &id),
                    kind: ItemKind::Product,
                    club: Some(format!("C{c}")),
                    title: id.clone(),
                    subtitle: String::new(),
                    content: String::new(),
                    tags: vec![],
                    countries: vec![],
                    event: None,
                    id,
                });
            }
        }
    }
    let shelf_weights: Vec<f64> = (0..PER_CATEGORY)
        .map(|r| 1.0 / ((r + 1) as f64).powf(0.9))
        .collect();
    let mut pairs: HashMap<String, String> = HashMap::new();
    for c in 0..CLUBS {
        for _ in 0..2 {
            let a = product_id(c, rng.below(CATEGORIES), rng.below(PER_CATEGORY));
            let b = product_id(c, rng.below(CATEGORIES), rng.below(PER_CATEGORY));
            if a != b {
                pairs.insert(a, b);
            }
        }
    }
    let mut interactions = Vec::new();
    let mut clubs = HashMap::new();
    let mut baskets = Vec::new();
    for f in 0..p.fans {
        let fan = format!("fan{f}");
        let club = rng.pick(&CLUB_WEIGHTS);
        clubs.insert(fan.clone(), format!("C{club}"));
        let liked = [rng.below(CATEGORIES), rng.below(CATEGORIES)];
        let mut n = 3;
        while n < 30 && rng.unit() < 0.82 {
            n += 1;
        }
        let mut owned: HashSet<String> = HashSet::new();
        let mut basket: Vec<String> = Vec::new();
        let start = now - 360 * DAY_MS;
        for step in 0..n {
            let mut chosen = None;
            if let Some(partner) = basket.last().and_then(|last| pairs.get(last))
                && !owned.contains(partner)
                && rng.unit() < 0.4
            {
                chosen = Some(partner.clone());
            }
            for _ in 0..8 {
                if chosen.is_some() {
                    break;
                }
                let c = if rng.unit() < 0.75 {
                    club
                } else {
                    rng.below(CLUBS)
                };
                let k = if rng.unit() < 0.7 {
                    liked[rng.below(2)]
                } else {
                    rng.below(CATEGORIES)
                };
                let id = product_id(c, k, rng.pick(&shelf_weights));
                if !owned.contains(&id) {
                    chosen = Some(id);
                }
            }
            let Some(id) = chosen else { continue };
            owned.insert(id.clone());
            let at = start + (step as i64 + 1) * (360 * DAY_MS) / (n as i64 + 1);
            interactions.push(Interaction {
                fan: fan.clone(),
                item: recommend::key(ItemKind::Product, &id),
                at,
            });
            basket.push(id);
        }
        baskets.push((fan, basket));
    }
    Synthetic {
        interactions,
        clubs,
        catalogue,
        baskets,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankingScore {
    pub method: String,
    pub precision_at_5: f64,
    pub recall_at_10: f64,
    pub ndcg_at_10: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForecastScore {
    pub method: String,
    pub brier: f64,
    pub log_loss: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub fans: usize,
    pub fans_evaluated: usize,
    pub train_interactions: usize,
    pub ranking: Vec<RankingScore>,
    pub train_results: usize,
    pub test_results: usize,
    pub cut_off: String,
    pub matches: Vec<ForecastScore>,
}

impl Report {
    pub fn score(&self, method: &str) -> Option<&RankingScore> {
        self.ranking.iter().find(|r| r.method == method)
    }
    pub fn forecast(&self, method: &str) -> Option<&ForecastScore> {
        self.matches.iter().find(|r| r.method == method)
    }
}

struct Tally {
    hits5: f64,
    hits10: f64,
    ndcg: f64,
    n: usize,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            hits5: 0.0,
            hits10: 0.0,
            ndcg: 0.0,
            n: 0,
        }
    }
    fn add(&mut self, ranked: &[String], held_out: &str) {
        self.n += 1;
        if let Some(pos) = ranked.iter().take(10).position(|k| k == held_out) {
            self.hits10 += 1.0;
            self.ndcg += 1.0 / ((pos + 2) as f64).log2();
            if pos < 5 {
                self.hits5 += 1.0;
            }
        }
    }
    fn score(&self, method: &str) -> RankingScore {
        let n = self.n.max(1) as f64;
        let r = |x: f64| (x * 10_000.0).round() / 10_000.0;
        RankingScore {
            method: method.into(),
            // One relevant item per fan: precision@5 is hits@5 over 5 slots.
            precision_at_5: r(self.hits5 / n / 5.0),
            recall_at_10: r(self.hits10 / n),
            ndcg_at_10: r(self.ndcg / n),
        }
    }
}

/// Matrix factorisation trained with BPR (Rendle et al. 2009): the second
/// well-known method the recommender is compared with.
fn bpr(
    train: &[(String, Vec<String>)],
    items: &[String],
    seed: u64,
) -> HashMap<String, Vec<String>> {
    const K: usize = 24;
    const EPOCHS: usize = 30;
    const LR: f64 = 0.05;
    const REG: f64 = 0.01;
    let mut rng = Rng(seed ^ 0xB9B);
    let index: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let users: Vec<Vec<usize>> = train
        .iter()
        .map(|(_, b)| {
            b.iter()
                .filter_map(|i| index.get(i.as_str()).copied())
                .collect()
        })
        .collect();
    let sets: Vec<HashSet<usize>> = users.iter().map(|u| u.iter().copied().collect()).collect();
    let mut p: Vec<[f64; K]> = (0..users.len())
        .map(|_| std::array::from_fn(|_| 0.1 * rng.normal()))
        .collect();
    let mut q: Vec<[f64; K]> = (0..items.len())
        .map(|_| std::array::from_fn(|_| 0.1 * rng.normal()))
        .collect();
    let mut bias = vec![0.0f64; items.len()];
    let samples: usize = users.iter().map(Vec::len).sum();
    for _ in 0..EPOCHS {
        for _ in 0..samples {
            let u = rng.below(users.len());
            if users[u].is_empty() {
                continue;
            }
            let i = users[u][rng.below(users[u].len())];
            let mut j = rng.below(items.len());
            let mut tries = 0;
            while sets[u].contains(&j) && tries < 10 {
                j = rng.below(items.len());
                tries += 1;
            }
            let x: f64 =
                bias[i] - bias[j] + (0..K).map(|f| p[u][f] * (q[i][f] - q[j][f])).sum::<f64>();
            let g = 1.0 / (1.0 + x.exp());
            bias[i] += LR * (g - REG * bias[i]);
            bias[j] += LR * (-g - REG * bias[j]);
            for f in 0..K {
                let (pu, qi, qj) = (p[u][f], q[i][f], q[j][f]);
                p[u][f] += LR * (g * (qi - qj) - REG * pu);
                q[i][f] += LR * (g * pu - REG * qi);
                q[j][f] += LR * (-g * pu - REG * qj);
            }
        }
    }
    train
        .iter()
        .enumerate()
        .map(|(u, (fan, _))| {
            let mut scored: Vec<(f64, usize)> = (0..items.len())
                .filter(|i| !sets[u].contains(i))
                .map(|i| (bias[i] + (0..K).map(|f| p[u][f] * q[i][f]).sum::<f64>(), i))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            (
                fan.clone(),
                scored
                    .iter()
                    .take(10)
                    .map(|(_, i)| items[*i].clone())
                    .collect(),
            )
        })
        .collect()
}

pub fn evaluate_recommender(p: Population) -> (usize, usize, Vec<RankingScore>) {
    let now = 400 * DAY_MS;
    let data = synthetic(p, now);
    // Leave-last-out: each fan's last purchase is what we try to predict.
    let mut train_of: Vec<(String, Vec<String>)> = Vec::new();
    let mut held: Vec<(String, String)> = Vec::new();
    for (fan, basket) in &data.baskets {
        if basket.len() < 2 {
            continue;
        }
        let keys: Vec<String> = basket
            .iter()
            .map(|id| recommend::key(ItemKind::Product, id))
            .collect();
        held.push((fan.clone(), keys[keys.len() - 1].clone()));
        train_of.push((fan.clone(), keys[..keys.len() - 1].to_vec()));
    }
    let held_set: HashSet<(&str, &str)> =
        held.iter().map(|(f, i)| (f.as_str(), i.as_str())).collect();
    let train: Vec<Interaction> = data
        .interactions
        .iter()
        .filter(|i| !held_set.contains(&(i.fan.as_str(), i.item.as_str())))
        .cloned()
        .collect();
    let model = Model::build(&train, &data.clubs, now, BuildSettings::default());
    let at: HashMap<(&str, &str), i64> = train
        .iter()
        .map(|i| ((i.fan.as_str(), i.item.as_str()), i.at))
        .collect();
    let mut ours = Tally::new();
    let mut popular = Tally::new();
    let mut club_popular = Tally::new();
    let mut bpr_tally = Tally::new();
    let items: Vec<String> = data.catalogue.iter().map(|i| i.key.clone()).collect();
    let bpr_top = bpr(&train_of, &items, p.seed);
    let by_key: HashMap<&str, &Item> = data.catalogue.iter().map(|i| (i.key.as_str(), i)).collect();
    for ((fan, bought), (_, target)) in train_of.iter().zip(&held) {
        let owned: HashSet<String> = bought.iter().cloned().collect();
        let club = data.clubs.get(fan).cloned();
        let ctx = Fan {
            club: club.clone(),
            club_name: club.clone(),
            history: bought
                .iter()
                .map(|k| Owned {
                    item: k.clone(),
                    title: k.clone(),
                    at: at.get(&(fan.as_str(), k.as_str())).copied().unwrap_or(now),
                })
                .collect(),
            owned: owned.clone(),
            now,
            ..Fan::default()
        };
        // The candidates production ranks: neighbours and popular items.
        let candidates = recommend::candidates(&model, &ctx);
        let on_offer = candidates.iter().filter_map(|k| by_key.get(k).copied());
        let ranked: Vec<String> = recommend::rank(&model, &ctx, on_offer, 10)
            .into_iter()
            .map(|r| r.item.key.clone())
            .collect();
        ours.add(&ranked, target);
        let top = |list: &[recommend::Popular]| -> Vec<String> {
            list.iter()
                .filter(|p| !owned.contains(&p.item))
                .take(10)
                .map(|p| p.item.clone())
                .collect()
        };
        popular.add(&top(&model.popular), target);
        let club_list = club
            .and_then(|c| model.club_popular.get(&c).cloned())
            .unwrap_or_default();
        club_popular.add(&top(&club_list), target);
        bpr_tally.add(bpr_top.get(fan).map_or(&[][..], |v| v.as_slice()), target);
    }
    (
        held.len(),
        train.len(),
        vec![
            ours.score("item-kNN cosine + club boosts (served)"),
            bpr_tally.score("BPR matrix factorisation"),
            club_popular.score("popularity within the fan's club"),
            popular.score("popularity (baseline)"),
        ],
    )
}

/// The match model against uniform and home-advantage forecasts on the
/// shipped results from `cut_off_day` on, refitted before each week of them.
pub fn evaluate_matches(
    results: &[Played],
    cut_off_day: i64,
) -> (usize, usize, Vec<ForecastScore>) {
    let train = results.iter().filter(|r| r.day < cut_off_day).count();
    let test: Vec<&Played> = results.iter().filter(|r| r.day >= cut_off_day).collect();
    let base = forecast::base_rates(results, cut_off_day);
    let mut sums = [[0.0f64; 2]; 3];
    let mut week = i64::MIN;
    let mut ratings = Ratings::default();
    for r in &test {
        let w = r.day.div_euclid(7);
        if w != week {
            week = w;
            ratings = Ratings::fit(results, w * 7, FitSettings::default());
        }
        let actual = forecast::outcome_index(r.home_goals, r.away_goals);
        let model = ratings.predict(&r.home, &r.away).probabilities();
        for (i, p) in [model, [1.0 / 3.0; 3], base].into_iter().enumerate() {
            sums[i][0] += forecast::brier(p, actual);
            sums[i][1] += forecast::log_loss(p, actual);
        }
    }
    let n = test.len().max(1) as f64;
    let r = |x: f64| (x / n * 10_000.0).round() / 10_000.0;
    let names = [
        "Poisson ratings (served)",
        "uniform (1/3 each)",
        "home advantage (base rates)",
    ];
    (
        train,
        test.len(),
        names
            .iter()
            .zip(sums)
            .map(|(name, [b, l])| ForecastScore {
                method: (*name).into(),
                brier: r(b),
                log_loss: r(l),
            })
            .collect(),
    )
}

/// 2025-01-01: the shipped 2023/24 season and the first half of 2024/25
/// are fitted on, everything after is held out.
pub const CUT_OFF_DAY: i64 = 20_089;

pub fn evaluate(p: Population) -> Report {
    let (fans_evaluated, train_interactions, ranking) = evaluate_recommender(p);
    let shipped = crate::ai::results::shipped();
    let (train_results, test_results, matches) = evaluate_matches(&shipped, CUT_OFF_DAY);
    Report {
        fans: p.fans,
        fans_evaluated,
        train_interactions,
        ranking,
        train_results,
        test_results,
        cut_off: "2025-01-01".into(),
        matches,
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Recommendations: {} synthetic fans, {} evaluated (leave-last-out), {} training purchases",
            self.fans, self.fans_evaluated, self.train_interactions
        )?;
        writeln!(f)?;
        writeln!(f, "| method | precision@5 | recall@10 | NDCG@10 |")?;
        writeln!(f, "|---|---|---|---|")?;
        for r in &self.ranking {
            writeln!(
                f,
                "| {} | {:.4} | {:.4} | {:.4} |",
                r.method, r.precision_at_5, r.recall_at_10, r.ndcg_at_10
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Match outcomes: fitted on {} real results before {}, scored on the {} after",
            self.train_results, self.cut_off, self.test_results
        )?;
        writeln!(f)?;
        writeln!(f, "| method | Brier | log-loss |")?;
        writeln!(f, "|---|---|---|")?;
        for m in &self.matches {
            writeln!(f, "| {} | {:.4} | {:.4} |", m.method, m.brier, m.log_loss)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_population_is_the_same_every_time() {
        let p = Population { fans: 200, seed: 7 };
        let a = synthetic(p, 400 * DAY_MS);
        let b = synthetic(p, 400 * DAY_MS);
        assert_eq!(a.interactions.len(), b.interactions.len());
        assert!(
            a.interactions
                .iter()
                .zip(&b.interactions)
                .all(|(x, y)| x.fan == y.fan && x.item == y.item && x.at == y.at)
        );
    }

    #[test]
    fn the_recommender_beats_popularity_and_the_match_model_beats_uniform() {
        let r = evaluate(Population {
            fans: 2_000,
            seed: 2026,
        });
        let ours = r.score("item-kNN cosine + club boosts (served)").cloned();
        let base = r.score("popularity (baseline)").cloned();
        let (Some(ours), Some(base)) = (ours, base) else {
            panic!("missing scores: {r}");
        };
        assert!(ours.precision_at_5 > base.precision_at_5, "{r}");
        assert!(ours.recall_at_10 > base.recall_at_10, "{r}");
        assert!(ours.ndcg_at_10 > base.ndcg_at_10, "{r}");
        let model = r.forecast("Poisson ratings (served)").cloned();
        let uniform = r.forecast("uniform (1/3 each)").cloned();
        let (Some(model), Some(uniform)) = (model, uniform) else {
            panic!("missing forecasts: {r}");
        };
        assert!(r.test_results > 200, "{r}");
        assert!(model.brier < uniform.brier, "{r}");
        assert!(model.log_loss < uniform.log_loss, "{r}");
    }
}
