//! The sentence each recommendation carries: built from the evidence that
//! weighed most, quoting counts of fans only from three up.

use std::collections::HashMap;

use crate::ai::model::ItemKind;
use crate::ai::recommend::{Fan, Item, Trip};

/// Counts of fans below this are not quoted in reasons.
const QUOTED_FROM: u32 = 3;

/// A followed club: its id, its name, and its fans' popular items.
pub(crate) type Followed<'a> = (&'a str, &'a str, HashMap<&'a str, (f32, u32)>);

pub(crate) enum Reason<'a> {
    Together { seed: &'a str, together: u32 },
    Trip(&'a Trip),
    Match,
    Popular { club: Option<&'a str>, fans: u32 },
}

/// A score read as a probability-like number in (0, 1): documented as a
/// ranking strength, not a calibrated probability.
pub fn confidence(score: f64) -> f64 {
    let c = 1.0 - (-score).exp();
    (c.clamp(0.01, 0.99) * 100.0).round() / 100.0
}

pub(crate) fn explain(reason: &Reason, item: &Item, fan: &Fan, followed: &[Followed]) -> String {
    match reason {
        Reason::Together { seed, together } => {
            let what = match item.kind {
                ItemKind::Product => "also bought this",
                ItemKind::Event => "also have a ticket for this match",
                ItemKind::EsimPlan => "also travelled with this plan",
            };
            if *together >= QUOTED_FROM {
                format!("Fans who bought {seed} {what} ({together} fans).")
            } else {
                format!("Fans who bought {seed} {what}.")
            }
        }
        Reason::Trip(t) => {
            let when = day_label(t.kickoff);
            if t.with_ticket {
                format!(
                    "You travel to {} for {} on {when}: this plan covers {}.",
                    t.country_name, t.fixture, t.country_name
                )
            } else {
                format!(
                    "Your club plays {} in {} on {when}: this plan covers {}.",
                    t.fixture, t.country_name, t.country_name
                )
            }
        }
        Reason::Match => {
            let Some(e) = &item.event else {
                return String::new();
            };
            let when = day_label(e.kickoff);
            let (club, name) = match fan.club.as_deref() {
                Some(c) if e.home_club == c || e.away_club.as_deref() == Some(c) => {
                    (c, fan.club_name.clone().unwrap_or_default())
                }
                _ => followed
                    .iter()
                    .find(|(id, _, _)| e.home_club == *id || e.away_club.as_deref() == Some(id))
                    .map(|(id, n, _)| (*id, format!("{n} (you follow them)")))
                    .unwrap_or(("", String::new())),
            };
            if e.home_club == club {
                format!("{name} plays at home against {} on {when}.", e.away_name)
            } else {
                format!("{name} plays away at {} on {when}.", e.home_name)
            }
        }
        Reason::Popular { club, fans } => {
            let who = club.map_or_else(|| "fans of every club".to_owned(), |c| format!("{c} fans"));
            if *fans >= QUOTED_FROM {
                format!("Popular with {who}: {fans} have bought it.")
            } else {
                format!("Popular with {who}.")
            }
        }
    }
}

/// "Sunday 14 December".
pub fn day_label(ms: i64) -> String {
    use time::OffsetDateTime;
    let Ok(t) = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) else {
        return String::new();
    };
    format!("{} {} {}", t.weekday(), t.day(), t.month())
}
