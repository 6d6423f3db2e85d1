//! Recommendations, fan insights and predictions learned from what fans
//! actually buy, attend and follow. The co-occurrence model is built on a
//! schedule (or by `paiecashfan ai rebuild`), stored, and held in memory by
//! every instance: answering is lookups in it plus the fan's own rows. The
//! match model is fitted on real results and refitted when one is added.

pub mod catalogue;
pub mod error;
pub mod evaluate;
pub mod forecast;
pub mod insights;
pub mod model;
pub mod reasons;
pub mod recommend;
pub mod results;
pub mod routes;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::ai::catalogue::{Catalogue, country_name, fan_context};
use crate::ai::forecast::{FitSettings, Ratings};
use crate::ai::insights::FanData;
use crate::ai::model::*;
use crate::ai::recommend::{BuildSettings, Model, Trip};
use crate::ai::store::{ModelHead, Population, ResultsVersion};
use crate::db::{Db, now_ms, rfc3339};
use crate::domain::Caller;

pub use error::AiError;
pub use routes::{admin_router, router};

const DAY_MS: i64 = 86_400_000;
/// How long a rebuild may hold the lease before another instance takes over.
const LEASE_MS: i64 = 10 * 60_000;

/// What a stored model holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub model: Model,
    pub population: Population,
}

#[derive(Default)]
struct Loaded {
    head: Option<ModelHead>,
    snapshot: Snapshot,
}

struct Fitted {
    version: Option<ResultsVersion>,
    ratings: Ratings,
}

/// The AI core.
#[derive(Clone)]
pub struct Ai {
    db: Db,
    rebuild_every: Duration,
    loaded: Arc<ArcSwap<Loaded>>,
    fitted: Arc<ArcSwap<Fitted>>,
    /// One rebuild (and one refit) at a time in this process.
    building: Arc<tokio::sync::Mutex<()>>,
    fitting: Arc<tokio::sync::Mutex<()>>,
    /// What is on sale, read at most this often.
    catalogue_ttl: Duration,
    on_sale: Arc<ArcSwap<Option<Arc<Catalogue>>>>,
    reading: Arc<tokio::sync::Mutex<()>>,
    /// Names this process in the rebuild lease.
    instance: Arc<str>,
}

impl Ai {
    pub fn new(db: Db, rebuild_every: Duration, catalogue_ttl: Duration) -> Ai {
        Ai {
            db,
            rebuild_every,
            catalogue_ttl,
            on_sale: Arc::new(ArcSwap::from_pointee(None)),
            reading: Arc::new(tokio::sync::Mutex::new(())),
            instance: Arc::from(crate::db::new_id()),
            loaded: Arc::new(ArcSwap::from_pointee(Loaded::default())),
            fitted: Arc::new(ArcSwap::from_pointee(Fitted {
                version: None,
                ratings: Ratings::default(),
            })),
            building: Arc::new(tokio::sync::Mutex::new(())),
            fitting: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Keeps the model fresh: loads a newer one another instance (or the
    /// CLI) stored, and rebuilds once the newest is `rebuild_every` old.
    pub async fn run(self) {
        let mut every = tokio::time::interval(Duration::from_secs(30));
        loop {
            every.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "recommendation model refresh failed");
            }
        }
    }

    /// Serves the newest stored model, rebuilding it first when it is due
    /// (by one instance: the others load what it stores).
    pub async fn refresh(&self) -> Result<(), AiError> {
        let newest = store::newest_model(self.db.reader()).await?;
        let now = now_ms();
        let due = newest
            .as_ref()
            .is_none_or(|h| now - h.built_at >= self.rebuild_every.as_millis() as i64);
        if !due {
            return self.load(newest).await;
        }
        let lease = {
            let mut conn = self.db.bookkeeping().await?;
            store::take_lease(conn.conn(), &self.instance, now, now + LEASE_MS).await?
        };
        if !lease {
            return self.load(newest).await;
        }
        let built = self.rebuild().await;
        if let Ok(mut conn) = self.db.bookkeeping().await {
            let _ = store::release_lease(conn.conn(), &self.instance).await;
        }
        built.map(|_| ())
    }

    async fn load(&self, newest: Option<ModelHead>) -> Result<(), AiError> {
        if newest == self.loaded.load().head {
            return Ok(());
        }
        let Some(head) = newest else {
            return Ok(());
        };
        let Some(payload) = store::model_payload(self.db.reader(), &head.id).await? else {
            return Ok(());
        };
        let snapshot: Snapshot =
            serde_json::from_str(&payload).map_err(|e| AiError::Model(e.to_string()))?;
        self.loaded.store(Arc::new(Loaded {
            head: Some(head),
            snapshot,
        }));
        Ok(())
    }

    /// Builds the model from every fan's data, stores it and serves it.
    pub async fn rebuild(&self) -> Result<RebuildReport, AiError> {
        let _one = self.building.lock().await;
        let started = Instant::now();
        let now = now_ms();
        let db = self.db.reader();
        let (interactions, clubs, population) = tokio::try_join!(
            store::interactions(db),
            store::fan_clubs(db),
            store::population(db, now),
        )?;
        let model = tokio::task::spawn_blocking(move || {
            Model::build(&interactions, &clubs, now, BuildSettings::default())
        })
        .await
        .map_err(|e| AiError::Model(e.to_string()))?;
        let snapshot = Snapshot { model, population };
        let payload =
            serde_json::to_string(&snapshot).map_err(|e| AiError::Model(e.to_string()))?;
        let build_ms = started.elapsed().as_millis() as u64;
        let m = &snapshot.model;
        let report = RebuildReport {
            built_at: rfc3339(now),
            fans: m.fans,
            interactions: m.interactions,
            items: m.neighbours.len().max(m.popular.len()) as u32,
            build_ms,
        };
        let mut tx = self.db.begin_write().await?;
        let id =
            store::save_model(tx.conn(), now, m.fans, m.interactions, build_ms, &payload).await?;
        tx.commit().await?;
        self.loaded.store(Arc::new(Loaded {
            head: Some(ModelHead { id, built_at: now }),
            snapshot,
        }));
        Ok(report)
    }

    pub fn model_info(&self) -> ModelInfo {
        let l = self.loaded.load();
        ModelInfo {
            built_at: l.head.as_ref().map(|h| rfc3339(h.built_at)),
            fans: l.snapshot.model.fans,
            interactions: l.snapshot.model.interactions,
        }
    }

    pub async fn recommendations(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<Recommendations, AiError> {
        let loaded = self.loaded.load_full();
        let model = &loaded.snapshot.model;
        let now = now_ms();
        let (rows, catalogue) = tokio::try_join!(
            store::fan_rows(self.db.reader(), caller.id.as_str()),
            self.catalogue(now),
        )?;
        let fan = fan_context(&rows, now).ok_or(AiError::NotFound("user"))?;
        let mut fan = fan;
        let home_country = rows
            .iter()
            .find(|r| r.kind == "profile")
            .and_then(|r| r.extra.clone());
        // A match abroad the fan's club plays away: a trip they may make.
        for e in catalogue.events.iter().filter_map(|i| i.event.as_ref()) {
            let away_mine = fan.club.is_some() && e.away_club == fan.club;
            let abroad = home_country.as_deref().is_some_and(|c| c != e.country);
            if away_mine
                && abroad
                && e.kickoff > now
                && !fan.trips.iter().any(|t| t.kickoff == e.kickoff)
            {
                fan.trips.push(Trip {
                    country: e.country.clone(),
                    country_name: country_name(&e.country).to_owned(),
                    fixture: format!("{} – {}", e.home_name, e.away_name),
                    kickoff: e.kickoff,
                    with_ticket: false,
                });
            }
        }
        let products = recommend::candidates(model, &fan)
            .into_iter()
            .filter_map(|k| catalogue.products.get(k));
        let events = catalogue
            .events
            .iter()
            .filter(|i| i.event.as_ref().is_some_and(|e| e.kickoff > now));
        let ranked = recommend::rank(
            model,
            &fan,
            products.chain(events).chain(&catalogue.plans),
            limit,
        );
        Ok(Recommendations {
            recommendations: ranked
                .into_iter()
                .map(|r| Recommendation {
                    id: r.item.key.clone(),
                    kind: r.item.kind,
                    item_id: r.item.id.clone(),
                    title: r.item.title.clone(),
                    subtitle: r.item.subtitle.clone(),
                    content: r.item.content.clone(),
                    tags: r.item.tags.clone(),
                    confidence: r.confidence,
                    reason: r.reason,
                    source: r.source,
                })
                .collect(),
            model: ModelInfo {
                built_at: loaded.head.as_ref().map(|h| rfc3339(h.built_at)),
                fans: model.fans,
                interactions: model.interactions,
            },
        })
    }

    /// What is on sale, read at most once per `catalogue_ttl` by this
    /// instance (one read for every request waiting on it).
    async fn catalogue(&self, now: i64) -> Result<Arc<Catalogue>, sqlx::Error> {
        let fresh = |c: &Catalogue| c.read_at.elapsed() < self.catalogue_ttl;
        if let Some(c) = self.on_sale.load_full().as_ref()
            && fresh(c)
        {
            return Ok(c.clone());
        }
        let _one = self.reading.lock().await;
        if let Some(c) = self.on_sale.load_full().as_ref()
            && fresh(c)
            && !self.catalogue_ttl.is_zero()
        {
            return Ok(c.clone());
        }
        let db = self.db.reader();
        let (products, events, plans) = tokio::try_join!(
            store::products_on_sale(db),
            store::events_on_sale(db, now),
            store::plans_on_sale(db),
        )?;
        let c = Arc::new(Catalogue::new(products, events, plans));
        self.on_sale.store(Arc::new(Some(c.clone())));
        Ok(c)
    }

    async fn fan_data(&self, caller: &Caller) -> Result<FanData, AiError> {
        let db = self.db.reader();
        let me = caller.id.as_str();
        let now = now_ms();
        let (profile, follows, lines, tickets, esims, ledger, engagement, clubs) = tokio::try_join!(
            store::profile(db, me),
            store::followed_clubs(db, me),
            store::order_lines(db, me),
            store::tickets(db, me),
            store::esims(db, me),
            store::spending(db, me),
            store::engagement(db, me, now),
            store::clubs(db),
        )?;
        Ok(FanData {
            fan: me.to_owned(),
            profile: profile.ok_or(AiError::NotFound("user"))?,
            follows,
            lines,
            tickets,
            esims,
            ledger,
            engagement,
            club_names: clubs.into_iter().map(|c| (c.id, c.name)).collect(),
            now,
        })
    }

    pub async fn insights(&self, caller: &Caller) -> Result<Insights, AiError> {
        let data = self.fan_data(caller).await?;
        let pop = &self.loaded.load().snapshot.population;
        Ok(Insights {
            insights: insights::insights(&data, pop),
        })
    }

    pub async fn predictions(&self, caller: &Caller) -> Result<Predictions, AiError> {
        let data = self.fan_data(caller).await?;
        let fitted = self.ratings().await?;
        let mut clubs: Vec<&str> = data.follows.iter().map(|f| f.id.as_str()).collect();
        clubs.extend(data.profile.club_id.as_deref());
        clubs.sort();
        clubs.dedup();
        let events = store::upcoming_matches(self.db.reader(), &clubs, data.now).await?;
        let matches = events
            .iter()
            .map(|e| {
                let home = results::canonical(&e.home_name);
                let away = results::canonical(&e.away_team);
                let o = fitted.ratings.predict(home, away);
                MatchPrediction {
                    event_id: e.id.clone(),
                    home_team: e.home_name.clone(),
                    away_team: e.away_team.clone(),
                    kickoff: rfc3339(e.kickoff_at),
                    home: round3(o.home),
                    draw: round3(o.draw),
                    away: round3(1.0 - round3(o.home) - round3(o.draw)),
                    expected_goals: ExpectedGoals {
                        home: round3(o.home_goals),
                        away: round3(o.away_goals),
                    },
                    home_known: fitted.ratings.knows(home),
                    away_known: fitted.ratings.knows(away),
                }
            })
            .collect();
        let pop = &self.loaded.load().snapshot.population;
        let (next_purchase, engagement, lifetime) = insights::fan_forecasts(&data, pop);
        Ok(Predictions {
            predictions: FanPredictions {
                matches,
                match_model: MatchModelInfo {
                    method: MATCH_METHOD.into(),
                    results: fitted.ratings.matches as u32,
                },
                next_purchase,
                engagement,
                lifetime,
            },
        })
    }

    /// The ratings fitted on every result so far (refitted when one was added).
    async fn ratings(&self) -> Result<Arc<Fitted>, AiError> {
        let version = store::results_version(self.db.reader()).await?;
        let current = self.fitted.load_full();
        if current.version == Some(version) {
            return Ok(current);
        }
        let _one = self.fitting.lock().await;
        let current = self.fitted.load_full();
        if current.version == Some(version) {
            return Ok(current);
        }
        let rows = store::results(self.db.reader()).await?;
        let played = results::played(rows);
        let today = now_ms().div_euclid(DAY_MS) + 1;
        let ratings = tokio::task::spawn_blocking(move || {
            Ratings::fit(&played, today, FitSettings::default())
        })
        .await
        .map_err(|e| AiError::Model(e.to_string()))?;
        let fitted = Arc::new(Fitted {
            version: Some(version),
            ratings,
        });
        self.fitted.store(fitted.clone());
        Ok(fitted)
    }

    /// Records the final score of a played match and refits the ratings.
    /// The same score again is a no-op (`false`); another score is 409.
    pub async fn record_result(
        &self,
        caller: &Caller,
        event: &str,
        r: &NewResult,
    ) -> Result<(RecordedResult, bool), AiError> {
        let now = now_ms();
        // Who may write is settled before taking the write lock.
        let f = store::fixture(self.db.reader(), event)
            .await?
            .ok_or(AiError::NotFound("event"))?;
        caller.require_staff_of(&f.home_club_id)?;
        if f.kickoff_at > now {
            return Err(AiError::Conflict {
                code: "match_not_played",
                detail: "this match has not kicked off yet".into(),
            });
        }
        let mut tx = self.db.begin_write().await?;
        let home = results::canonical(&f.home_name).to_owned();
        let away = results::canonical(&f.away_name).to_owned();
        let season = results::season_of(f.kickoff_at);
        let inserted = store::insert_result(
            tx.conn(),
            &store::NewResultRow {
                competition: &f.competition,
                season: &season,
                played_on: f.kickoff_at,
                home_team: &home,
                away_team: &away,
                home_goals: r.home_goals,
                away_goals: r.away_goals,
                event_id: Some(event),
                recorded_by: Some(caller.id.as_str()),
            },
            now,
        )
        .await?;
        if !inserted {
            let same = store::recorded_result(tx.conn(), event)
                .await?
                .is_some_and(|e| e.home_goals == r.home_goals && e.away_goals == r.away_goals);
            if !same {
                return Err(AiError::Conflict {
                    code: "result_already_recorded",
                    detail: "another result is already recorded for this match".into(),
                });
            }
        }
        tx.commit().await?;
        // The result is recorded; ratings that cannot be refitted now are
        // refitted by the next prediction, not reported as a failure.
        let fitted = match self.ratings().await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "refit after a recorded result failed");
                self.fitted.load_full()
            }
        };
        let rating = |team: &str| TeamRating {
            team: team.to_owned(),
            attack: round3(fitted.ratings.attack.get(team).copied().unwrap_or(1.0)),
            defence: round3(
                fitted
                    .ratings
                    .defence
                    .get(team)
                    .copied()
                    .unwrap_or(fitted.ratings.goals_per_team),
            ),
        };
        Ok((
            RecordedResult {
                event_id: event.to_owned(),
                home_rating: rating(&home),
                away_rating: rating(&away),
                home_team: f.home_name,
                away_team: f.away_name,
                home_goals: r.home_goals as u32,
                away_goals: r.away_goals as u32,
                played_at: rfc3339(f.kickoff_at),
                home_advantage: round3(fitted.ratings.home_advantage),
            },
            inserted,
        ))
    }
}

pub const MATCH_METHOD: &str = "Independent Poisson goals (Maher): each team's attack and defence fitted by maximum likelihood on real results, a match 240 days old weighing half, 3 average matches added to every team's record; outcome probabilities summed over scores up to 10-10.";

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
