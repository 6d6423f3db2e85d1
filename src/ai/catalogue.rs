//! What is on sale, as the recommender ranks it (products with stock,
//! matches with seats, plans), and the fan's own rows read into the
//! ranking's view of them.

use std::collections::HashMap;
use std::time::Instant;

use crate::ai::model::ItemKind;
use crate::ai::recommend::{self, EventInfo, Fan, Item, Owned, Trip};
use crate::ai::store::{EventRow, FanRow, PlanRow, ProductRow};
use crate::wallet::money::{Currency, format_minor};

pub struct Catalogue {
    pub products: HashMap<String, Item>,
    pub events: Vec<Item>,
    pub plans: Vec<Item>,
    pub read_at: Instant,
}

pub fn money(minor: i64, currency: &str) -> String {
    match Currency::stored(currency) {
        Ok(c) => format_minor(minor, c),
        Err(_) => minor.to_string(),
    }
}

impl Catalogue {
    pub fn new(products: Vec<ProductRow>, events: Vec<EventRow>, plans: Vec<PlanRow>) -> Self {
        Catalogue {
            products: products
                .into_iter()
                .map(|p| {
                    let item = product_item(p);
                    (item.key.clone(), item)
                })
                .collect(),
            events: events.into_iter().map(event_item).collect(),
            plans: plans.into_iter().map(plan_item).collect(),
            read_at: Instant::now(),
        }
    }
}

fn product_item(p: ProductRow) -> Item {
    Item {
        key: recommend::key(ItemKind::Product, &p.id),
        kind: ItemKind::Product,
        subtitle: format!(
            "{} · {} {}",
            p.club_name,
            money(p.price, &p.currency),
            p.currency
        ),
        content: p.description,
        tags: vec![p.club_id.clone(), p.category],
        club: Some(p.club_id),
        title: p.name,
        id: p.id,
        countries: vec![],
        event: None,
    }
}

fn plan_item(p: PlanRow) -> Item {
    let countries: Vec<String> = serde_json::from_str(&p.countries).unwrap_or_default();
    let names: Vec<&str> = countries.iter().map(|c| country_name(c)).collect();
    let data = p.data_mb.map_or_else(
        || "Unlimited data".to_owned(),
        |mb| format!("{} GB", mb / 1024),
    );
    let mut tags = vec![p.region];
    tags.extend(countries.iter().cloned());
    Item {
        key: recommend::key(ItemKind::EsimPlan, &p.id),
        kind: ItemKind::EsimPlan,
        subtitle: format!(
            "{data} · {} days · {} {}",
            p.validity_days,
            money(p.price, &p.currency),
            p.currency
        ),
        content: format!("Covers {}.", names.join(", ")),
        tags,
        club: None,
        title: p.name,
        id: p.id,
        countries,
        event: None,
    }
}

/// The fan as ranking sees them, from `store::fan_rows`; `None` when the
/// account does not exist.
pub fn fan_context(rows: &[FanRow], now: i64) -> Option<Fan> {
    let profile = rows.iter().find(|r| r.kind == "profile")?;
    let home_country = profile.extra.as_deref();
    let mut fan = Fan {
        club: profile.id.clone(),
        club_name: profile.title.clone(),
        now,
        ..Fan::default()
    };
    for r in rows {
        let Some(id) = r.id.as_deref() else { continue };
        let title = r.title.clone().unwrap_or_default();
        match r.kind.as_str() {
            "follow" if fan.club.as_deref() != Some(id) => {
                fan.follows.push((id.to_owned(), title));
            }
            "product" => {
                let key = recommend::key(ItemKind::Product, id);
                fan.owned.insert(key.clone());
                fan.history.push(Owned {
                    item: key,
                    title,
                    at: r.at,
                });
            }
            "ticket" => {
                let key = recommend::key(ItemKind::Event, id);
                let valid = r.status.as_deref() == Some("valid");
                let kickoff = r.until.unwrap_or(0);
                if valid {
                    fan.owned.insert(key.clone());
                }
                let country = r.extra.clone().unwrap_or_default();
                if valid && kickoff > now && home_country.is_some_and(|c| c != country) {
                    fan.trips.push(Trip {
                        country_name: country_name(&country).to_owned(),
                        country,
                        fixture: title.clone(),
                        kickoff,
                        with_ticket: true,
                    });
                }
                fan.history.push(Owned {
                    item: key,
                    title: format!("a ticket for {title}"),
                    at: r.at,
                });
            }
            "esim" => {
                let key = recommend::key(ItemKind::EsimPlan, id);
                let usable = matches!(
                    r.status.as_deref(),
                    Some("provisioning" | "ready" | "active")
                ) && r.until.is_none_or(|x| x > now);
                if usable {
                    fan.owned.insert(key.clone());
                    let countries: Vec<String> = r
                        .extra
                        .as_deref()
                        .and_then(|c| serde_json::from_str(c).ok())
                        .unwrap_or_default();
                    fan.covered.extend(countries);
                }
                fan.history.push(Owned {
                    item: key,
                    title: format!("the {title} eSIM"),
                    at: r.at,
                });
            }
            _ => {}
        }
    }
    // Four seats for one match, or a shirt bought twice, are one piece of
    // evidence (the latest), as they are in the model.
    fan.history
        .sort_by(|a, b| a.item.cmp(&b.item).then(b.at.cmp(&a.at)));
    fan.history.dedup_by(|later, kept| later.item == kept.item);
    fan.trips
        .sort_by(|a, b| a.kickoff.cmp(&b.kickoff).then(a.country.cmp(&b.country)));
    fan.trips
        .dedup_by(|a, b| a.kickoff == b.kickoff && a.country == b.country);
    Some(fan)
}

fn event_item(e: EventRow) -> Item {
    let from = match (e.price_from, e.currency.as_deref()) {
        (Some(p), Some(c)) => format!("; tickets from {} {c}", money(p, c)),
        _ => String::new(),
    };
    let mut tags = vec![e.competition.clone(), e.home_club_id.clone()];
    tags.extend(e.away_club_id.iter().cloned());
    Item {
        key: recommend::key(ItemKind::Event, &e.id),
        kind: ItemKind::Event,
        title: format!("{} – {}", e.home_name, e.away_team),
        subtitle: format!("{} · {}", e.competition, recommend::day_label(e.kickoff_at)),
        content: format!("{}{from}.", e.venue),
        tags,
        club: Some(e.home_club_id.clone()),
        countries: vec![],
        event: Some(EventInfo {
            home_club: e.home_club_id,
            home_name: e.home_name,
            away_club: e.away_club_id,
            away_name: e.away_team,
            kickoff: e.kickoff_at,
            country: e.home_country,
        }),
        id: e.id,
    }
}

/// English names of the countries clubs play in and plans cover.
pub fn country_name(code: &str) -> &str {
    const NAMES: &[(&str, &str)] = &[
        ("AR", "Argentina"),
        ("AT", "Austria"),
        ("BE", "Belgium"),
        ("BR", "Brazil"),
        ("CH", "Switzerland"),
        ("CI", "Côte d'Ivoire"),
        ("CM", "Cameroon"),
        ("DE", "Germany"),
        ("DZ", "Algeria"),
        ("EG", "Egypt"),
        ("ES", "Spain"),
        ("FR", "France"),
        ("GB", "the United Kingdom"),
        ("GH", "Ghana"),
        ("IT", "Italy"),
        ("MA", "Morocco"),
        ("MC", "Monaco"),
        ("NG", "Nigeria"),
        ("NL", "the Netherlands"),
        ("PT", "Portugal"),
        ("QA", "Qatar"),
        ("SA", "Saudi Arabia"),
        ("SN", "Senegal"),
        ("TN", "Tunisia"),
        ("US", "the United States"),
    ];
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        kind: &str,
        id: &str,
        extra: Option<&str>,
        status: Option<&str>,
        at: i64,
        until: Option<i64>,
    ) -> FanRow {
        FanRow {
            kind: kind.into(),
            id: Some(id.into()),
            title: Some(format!("{id} title")),
            extra: extra.map(Into::into),
            status: status.map(Into::into),
            at,
            until,
        }
    }

    #[test]
    fn seats_for_one_match_are_one_piece_of_evidence_and_one_trip() {
        let day = 86_400_000;
        let rows = vec![
            row("profile", "AS_MONACO", Some("MC"), None, 0, None),
            row(
                "ticket",
                "away-match",
                Some("FR"),
                Some("valid"),
                day,
                Some(9 * day),
            ),
            row(
                "ticket",
                "away-match",
                Some("FR"),
                Some("valid"),
                2 * day,
                Some(9 * day),
            ),
            row("product", "shirt", None, None, 3 * day, None),
            row("product", "shirt", None, None, 4 * day, None),
            row(
                "esim",
                "europe",
                Some(r#"["ES"]"#),
                Some("active"),
                day,
                Some(30 * day),
            ),
        ];
        let fan = fan_context(&rows, 5 * day).expect("a fan");
        assert_eq!(fan.history.len(), 3);
        let shirt = fan
            .history
            .iter()
            .find(|h| h.item == "product:shirt")
            .unwrap();
        assert_eq!(shirt.at, 4 * day, "the latest purchase counts");
        assert_eq!(fan.trips.len(), 1);
        assert_eq!(fan.trips[0].country_name, "France");
        assert!(fan.owned.contains("event:away-match") && fan.owned.contains("esim_plan:europe"));
        assert!(fan.covered.contains("ES"));
        assert!(
            fan_context(&rows[1..], 5 * day).is_none(),
            "no profile, no fan"
        );
    }
}
