//! Real results shipped with the server: Ligue 1 2023/24 to the current
//! season and Botola Pro 2024/25, transcribed from openfootball's
//! football.json (public domain), loaded once into `match_results`.

use crate::ai::forecast::Played;
use crate::ai::store::{self, NewResultRow, ResultRow};
use crate::db::Db;

/// (competition, season, CSV `date,home,away,home_goals,away_goals`)
const DATASETS: &[(&str, &str, &str)] = &[
    (
        "Ligue 1",
        "2023-24",
        include_str!("data/ligue1-2023-24.csv"),
    ),
    (
        "Ligue 1",
        "2024-25",
        include_str!("data/ligue1-2024-25.csv"),
    ),
    (
        "Ligue 1",
        "2025-26",
        include_str!("data/ligue1-2025-26.csv"),
    ),
    (
        "Botola Pro",
        "2024-25",
        include_str!("data/botola-2024-25.csv"),
    ),
];

/// The sources' names for one team over the seasons, and the name our
/// clubs table uses (the name events carry).
const ALIASES: &[(&str, &str)] = &[
    ("AS Monaco FC", "AS Monaco"),
    ("Paris Saint-Germain FC", "Paris Saint-Germain"),
    ("RC Strasbourg Alsace", "RC Strasbourg"),
    ("Racing Club de Lens", "RC Lens"),
    ("Stade Rennais FC 1901", "Stade Rennais FC"),
    ("Raja Casablanca", "Raja CA"),
];

pub fn canonical(team: &str) -> &str {
    let t = team.trim();
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == t)
        .map_or(t, |(_, name)| name)
}

/// (days since the epoch, home, away, home goals, away goals)
pub type Fixture = (i64, String, String, u32, u32);

fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Days since the epoch of `YYYY-MM-DD`.
fn day_of(date: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date, &format).ok()?;
    Some(i64::from(
        d.to_julian_day()
            - time::Date::from_calendar_date(1970, time::Month::January, 1)
                .ok()?
                .to_julian_day(),
    ))
}

/// Parses one shipped CSV; a malformed line is a bug in the shipped data,
/// caught by the unit test below.
pub fn parse(csv: &str) -> Vec<Fixture> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let f = fields(l);
            if f.len() != 5 {
                return None;
            }
            Some((
                day_of(&f[0])?,
                canonical(&f[1]).to_owned(),
                canonical(&f[2]).to_owned(),
                f[3].trim().parse().ok()?,
                f[4].trim().parse().ok()?,
            ))
        })
        .collect()
}

/// Every shipped result, for the offline evaluation.
pub fn shipped() -> Vec<Played> {
    let mut v: Vec<Played> = DATASETS
        .iter()
        .flat_map(|(_, _, csv)| parse(csv))
        .map(|(day, home, away, hg, ag)| Played {
            day,
            home,
            away,
            home_goals: hg,
            away_goals: ag,
        })
        .collect();
    v.sort_by_key(|p| p.day);
    v
}

fn shipped_rows() -> usize {
    DATASETS.iter().map(|(_, _, csv)| parse(csv).len()).sum()
}

/// Loads the shipped seasons unless they are already there (inserting
/// is idempotent: one fixture, one row).
pub async fn seed(db: &Db) -> Result<(), sqlx::Error> {
    if store::dataset_rows(db.reader()).await? >= shipped_rows() as i64 {
        return Ok(());
    }
    let now = crate::db::now_ms();
    let parsed: Vec<(&str, &str, Vec<Fixture>)> = DATASETS
        .iter()
        .map(|(competition, season, csv)| (*competition, *season, parse(csv)))
        .collect();
    let rows: Vec<NewResultRow> = parsed
        .iter()
        .flat_map(|(competition, season, rows)| {
            rows.iter().map(|(day, home, away, hg, ag)| NewResultRow {
                competition,
                season,
                played_on: day * 86_400_000,
                home_team: home,
                away_team: away,
                home_goals: i64::from(*hg),
                away_goals: i64::from(*ag),
                event_id: None,
                recorded_by: None,
            })
        })
        .collect();
    let mut tx = db.begin_write().await?;
    store::insert_dataset(tx.conn(), &rows, now).await?;
    tx.commit().await
}

/// The results as the model reads them: one per fixture and day (a match
/// both shipped and recorded by an admin counts once, the admin's score).
pub fn played(rows: Vec<ResultRow>) -> Vec<Played> {
    let mut by_fixture: std::collections::BTreeMap<(i64, String, String), Played> =
        std::collections::BTreeMap::new();
    for r in rows {
        let day = r.played_on.div_euclid(86_400_000);
        let p = Played {
            day,
            home: r.home_team,
            away: r.away_team,
            home_goals: r.home_goals.clamp(0, 99) as u32,
            away_goals: r.away_goals.clamp(0, 99) as u32,
        };
        let key = (day, p.home.clone(), p.away.clone());
        match by_fixture.get(&key) {
            Some(_) if r.admin == 0 => {}
            _ => {
                by_fixture.insert(key, p);
            }
        }
    }
    by_fixture.into_values().collect()
}

/// `2025-26` for a match played between July 2025 and June 2026.
pub fn season_of(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => {
            let start = if u8::from(t.month()) >= 7 {
                t.year()
            } else {
                t.year() - 1
            };
            format!("{start}-{:02}", (start + 1) % 100)
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_shipped_line_parses_and_complete_seasons_are_double_round_robins() {
        for (competition, season, csv) in DATASETS {
            let lines = csv.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
            let rows = parse(csv);
            assert_eq!(
                rows.len(),
                lines,
                "{competition} {season}: a line did not parse"
            );
            let mut home: HashMap<&str, u32> = HashMap::new();
            let mut away: HashMap<&str, u32> = HashMap::new();
            for (_, h, a, _, _) in &rows {
                assert_ne!(h, a);
                *home.entry(h).or_default() += 1;
                *away.entry(a).or_default() += 1;
            }
            let complete = rows.len() == home.len() * (home.len() - 1);
            if complete {
                assert!(home.values().all(|n| *n as usize == home.len() - 1));
                assert!(away.values().all(|n| *n as usize == home.len() - 1));
            }
        }
        assert!(shipped().iter().any(|p| p.home == "AS Monaco"));
        assert!(shipped().iter().any(|p| p.away == "Raja CA"));
    }

    #[test]
    fn seasons_turn_in_july() {
        assert_eq!(season_of(1_767_225_600_000), "2025-26"); // 2026-01-01
        assert_eq!(season_of(1_785_542_400_000), "2026-27"); // 2026-08-01
    }
}
