//! The match model: each team's attack and defence fitted on real results
//! (Maher's independent Poisson model, recent matches weighing more), and
//! the home/draw/away probabilities it gives a fixture. Pure: the results
//! come in, the ratings go out.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// A played match, as the model reads it.
#[derive(Debug, Clone)]
pub struct Played {
    /// Days since the Unix epoch.
    pub day: i64,
    pub home: String,
    pub away: String,
    pub home_goals: u32,
    pub away_goals: u32,
}

/// Probabilities of the three outcomes (they sum to 1) and the goals expected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    pub home: f64,
    pub draw: f64,
    pub away: f64,
    pub home_goals: f64,
    pub away_goals: f64,
}

impl Outcome {
    pub fn probabilities(&self) -> [f64; 3] {
        [self.home, self.draw, self.away]
    }
}

/// How much the past counts and how far ratings are pulled to the average.
#[derive(Debug, Clone, Copy)]
pub struct FitSettings {
    /// A match this many days old weighs half as much as today's.
    pub half_life_days: f64,
    /// Average matches added to every team's record: a team with few
    /// results stays near the league average instead of swinging on one score.
    pub prior_matches: f64,
}

impl Default for FitSettings {
    fn default() -> Self {
        FitSettings {
            half_life_days: 240.0,
            prior_matches: 3.0,
        }
    }
}

/// The fitted ratings. A team's expected goals against an opponent at home
/// are `home_advantage × attack[team] × defence[opponent]`; away, without
/// the home factor. `attack` averages 1; `defence` is goals conceded per
/// match against an average attack (higher is weaker).
#[derive(Debug, Clone, Default)]
pub struct Ratings {
    pub attack: BTreeMap<String, f64>,
    pub defence: BTreeMap<String, f64>,
    pub home_advantage: f64,
    /// Goals per team per match in the (weighted) data: an unknown team's
    /// defence.
    pub goals_per_team: f64,
    pub matches: usize,
}

const MAX_GOALS: usize = 10;

impl Ratings {
    /// Fits on every result played before `as_of_day`.
    pub fn fit(results: &[Played], as_of_day: i64, settings: FitSettings) -> Ratings {
        let used: Vec<(&Played, f64)> = results
            .iter()
            .filter(|r| r.day < as_of_day)
            .map(|r| {
                let age = (as_of_day - r.day) as f64;
                (r, 0.5f64.powf(age / settings.half_life_days))
            })
            .collect();
        if used.is_empty() {
            return Ratings {
                home_advantage: 1.0,
                goals_per_team: 1.3,
                ..Ratings::default()
            };
        }
        let weight: f64 = used.iter().map(|(_, w)| w).sum();
        let goals: f64 = used
            .iter()
            .map(|(r, w)| w * f64::from(r.home_goals + r.away_goals))
            .sum();
        let per_team = (goals / (2.0 * weight)).max(0.1);
        let mut attack: BTreeMap<String, f64> = BTreeMap::new();
        let mut defence: BTreeMap<String, f64> = BTreeMap::new();
        for (r, _) in &used {
            for t in [&r.home, &r.away] {
                attack.entry(t.clone()).or_insert(1.0);
                defence.entry(t.clone()).or_insert(per_team);
            }
        }
        let mut home = 1.2;
        let k = settings.prior_matches;
        // Coordinate ascent on the Poisson likelihood: each step is the
        // closed-form best value of one parameter given the others, with
        // `k` average matches added to every team's record.
        for _ in 0..60 {
            let mut num: HashMap<&str, f64> = HashMap::new();
            let mut den: HashMap<&str, f64> = HashMap::new();
            for (r, w) in &used {
                *num.entry(&r.home).or_default() += w * f64::from(r.home_goals);
                *den.entry(&r.home).or_default() += w * home * defence[&r.away];
                *num.entry(&r.away).or_default() += w * f64::from(r.away_goals);
                *den.entry(&r.away).or_default() += w * defence[&r.home];
            }
            for (team, a) in attack.iter_mut() {
                let n = num.get(team.as_str()).copied().unwrap_or(0.0);
                let d = den.get(team.as_str()).copied().unwrap_or(0.0);
                *a = (n + k * per_team) / (d + k * per_team);
            }
            let mut num: HashMap<&str, f64> = HashMap::new();
            let mut den: HashMap<&str, f64> = HashMap::new();
            for (r, w) in &used {
                *num.entry(&r.home).or_default() += w * f64::from(r.away_goals);
                *den.entry(&r.home).or_default() += w * attack[&r.away];
                *num.entry(&r.away).or_default() += w * f64::from(r.home_goals);
                *den.entry(&r.away).or_default() += w * home * attack[&r.home];
            }
            for (team, d) in defence.iter_mut() {
                let n = num.get(team.as_str()).copied().unwrap_or(0.0);
                let dd = den.get(team.as_str()).copied().unwrap_or(0.0);
                *d = (n + k * per_team) / (dd + k);
            }
            let (mut hn, mut hd) = (0.0, 0.0);
            for (r, w) in &used {
                hn += w * f64::from(r.home_goals);
                hd += w * attack[&r.home] * defence[&r.away];
            }
            home = if hd > 0.0 { hn / hd } else { 1.0 };
            // Only products of attack and defence are identified: keep the
            // mean attack at 1 so ratings read the same from fit to fit.
            let mean = attack.values().sum::<f64>() / attack.len() as f64;
            if mean > 0.0 {
                attack.values_mut().for_each(|a| *a /= mean);
                defence.values_mut().for_each(|d| *d *= mean);
            }
        }
        Ratings {
            attack,
            defence,
            home_advantage: home,
            goals_per_team: per_team,
            matches: used.len(),
        }
    }

    pub fn knows(&self, team: &str) -> bool {
        self.attack.contains_key(team)
    }

    pub fn predict(&self, home: &str, away: &str) -> Outcome {
        let a = |t: &str| self.attack.get(t).copied().unwrap_or(1.0);
        let d = |t: &str| self.defence.get(t).copied().unwrap_or(self.goals_per_team);
        let lh = (self.home_advantage * a(home) * d(away)).clamp(0.05, 8.0);
        let la = (a(away) * d(home)).clamp(0.05, 8.0);
        let ph = poisson(lh);
        let pa = poisson(la);
        let (mut h, mut dr, mut aw) = (0.0, 0.0, 0.0);
        for (i, p) in ph.iter().enumerate() {
            for (j, q) in pa.iter().enumerate() {
                match i.cmp(&j) {
                    std::cmp::Ordering::Greater => h += p * q,
                    std::cmp::Ordering::Equal => dr += p * q,
                    std::cmp::Ordering::Less => aw += p * q,
                }
            }
        }
        let total = h + dr + aw;
        Outcome {
            home: h / total,
            draw: dr / total,
            away: aw / total,
            home_goals: lh,
            away_goals: la,
        }
    }
}

fn poisson(lambda: f64) -> [f64; MAX_GOALS + 1] {
    let mut p = [0.0; MAX_GOALS + 1];
    p[0] = (-lambda).exp();
    for k in 1..=MAX_GOALS {
        p[k] = p[k - 1] * lambda / k as f64;
    }
    p
}

/// 0 home win, 1 draw, 2 away win.
pub fn outcome_index(home_goals: u32, away_goals: u32) -> usize {
    match home_goals.cmp(&away_goals) {
        std::cmp::Ordering::Greater => 0,
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Less => 2,
    }
}

/// Brier score of one forecast (sum over the three outcomes, 0 is perfect, 2 worst).
pub fn brier(p: [f64; 3], actual: usize) -> f64 {
    p.iter()
        .enumerate()
        .map(|(k, q)| {
            let o = if k == actual { 1.0 } else { 0.0 };
            (q - o) * (q - o)
        })
        .sum()
}

/// Log-loss of one forecast (natural log).
pub fn log_loss(p: [f64; 3], actual: usize) -> f64 {
    -p[actual].max(1e-12).ln()
}

/// How often home wins, draws and away wins happened before `as_of_day`:
/// the home-advantage baseline.
pub fn base_rates(results: &[Played], as_of_day: i64) -> [f64; 3] {
    let mut counts = [1.0f64; 3];
    for r in results.iter().filter(|r| r.day < as_of_day) {
        counts[outcome_index(r.home_goals, r.away_goals)] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    counts.map(|c| c / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn played(day: i64, home: &str, away: &str, hg: u32, ag: u32) -> Played {
        Played {
            day,
            home: home.into(),
            away: away.into(),
            home_goals: hg,
            away_goals: ag,
        }
    }

    fn season() -> Vec<Played> {
        // A strong side, a middling one and a weak one, home and away.
        let mut v = Vec::new();
        let mut day = 0;
        for _ in 0..6 {
            v.push(played(day, "Strong", "Weak", 3, 0));
            v.push(played(day, "Weak", "Strong", 0, 2));
            v.push(played(day + 1, "Strong", "Mid", 2, 1));
            v.push(played(day + 1, "Mid", "Strong", 1, 1));
            v.push(played(day + 2, "Mid", "Weak", 2, 0));
            v.push(played(day + 2, "Weak", "Mid", 1, 1));
            day += 7;
        }
        v
    }

    #[test]
    fn probabilities_sum_to_one_and_the_stronger_side_is_favoured() {
        let r = Ratings::fit(&season(), 100, FitSettings::default());
        let o = r.predict("Strong", "Weak");
        assert!((o.home + o.draw + o.away - 1.0).abs() < 1e-9);
        assert!(o.home > 0.6, "{o:?}");
        let back = r.predict("Weak", "Strong");
        assert!(back.away > back.home, "{back:?}");
        assert!(r.attack["Strong"] > r.attack["Mid"] && r.attack["Mid"] > r.attack["Weak"]);
        assert!(r.defence["Strong"] < r.defence["Weak"]);
    }

    #[test]
    fn an_unknown_team_is_an_average_one_and_no_data_gives_a_plain_forecast() {
        let r = Ratings::fit(&season(), 100, FitSettings::default());
        let o = r.predict("Nobody", "Nobody Else");
        assert!((o.home + o.draw + o.away - 1.0).abs() < 1e-9);
        assert!(o.home > o.away, "home advantage still applies: {o:?}");
        let empty = Ratings::fit(&[], 100, FitSettings::default());
        let o = empty.predict("A", "B");
        assert!((o.home - o.away).abs() < 1e-9);
    }

    #[test]
    fn results_on_or_after_the_cut_off_are_not_used() {
        let mut data = season();
        let before = Ratings::fit(&data, 50, FitSettings::default());
        data.push(played(60, "Weak", "Strong", 9, 0));
        let after = Ratings::fit(&data, 50, FitSettings::default());
        assert_eq!(
            before.predict("Weak", "Strong"),
            after.predict("Weak", "Strong")
        );
    }

    #[test]
    fn scores_of_forecasts() {
        assert!((brier([1.0, 0.0, 0.0], 0)).abs() < 1e-12);
        assert!((brier([1.0 / 3.0; 3], 1) - 2.0 / 3.0).abs() < 1e-12);
        assert!((log_loss([0.5, 0.25, 0.25], 0) - 2f64.ln()).abs() < 1e-12);
        let rates = base_rates(&season(), 100);
        assert!((rates.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
