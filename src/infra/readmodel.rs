//! The public catalogue held in memory: clubs, products with stock, events
//! with seats left, eSIM plans. Each is a [`View`]: a snapshot read from the
//! database in one go, which requests filter, page and answer from without a
//! round trip, and whose rendered answers are kept per query.
//!
//! When a snapshot is current:
//! - it was filled after the last change this instance knows of for its
//!   [`Topic`] (a write invalidates on commit; with Redis, the change
//!   reaches every instance through the fan-out: an admin's edit at once,
//!   the seats and stock moved by sales at most every
//!   [`SALES_ANNOUNCED_EVERY`]), and
//! - it is younger than `max_age` (`READ_MODEL_MAX_AGE_MS`, 1 s by default):
//!   without Redis, or when a fan-out message is lost, what other instances
//!   sold is never older than that;
//! - and no time boundary its data depends on (a sale opening, a match
//!   dropping off the list) has passed since it was filled.
//!
//! Anything that decides (a purchase, a checkout) reads the database, never
//! a view.
//!
//! A cold or stale view is filled once however many requests ask at the same
//! time: the first fills, the others wait for that fill and take it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;

use crate::db::now_ms;
use crate::infra::fanout::{Event, Fanout};

/// What changed, as far as public reads are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Clubs,
    Products,
    Events,
    Plans,
}

impl Topic {
    const ALL: [Topic; 4] = [Topic::Clubs, Topic::Products, Topic::Events, Topic::Plans];

    fn name(self) -> &'static str {
        match self {
            Topic::Clubs => "clubs",
            Topic::Products => "products",
            Topic::Events => "events",
            Topic::Plans => "plans",
        }
    }

    fn parse(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The fan-out event that tells other instances a topic changed.
const CHANGED: &str = "readmodel.changed";

/// Sales on one instance are announced to the others at most this often
/// per topic (the last one of a burst too): during a ticket drop, one
/// announcement per sale would make every instance refill on every sale.
pub const SALES_ANNOUNCED_EVERY: Duration = Duration::from_millis(100);

/// At most this many rendered answers are kept per snapshot (distinct
/// queries: filters, search texts, pages); more are rendered per request.
const MAX_RENDERED: usize = 256;

struct Shared {
    /// Bumped by each change to a topic; a snapshot remembers the value it
    /// was filled at.
    generations: [AtomicU64; 4],
    fanout: Arc<dyn Fanout>,
    /// When each topic's sales were last announced (ms), and whether an
    /// announcement is already due.
    announced: [AtomicI64; 4],
    due: [AtomicBool; 4],
    /// This process, so that it ignores its own changes coming back.
    origin: Arc<str>,
    max_age: Duration,
}

/// Tells every view (here, and through the fan-out on other instances) that
/// what it shows changed.
#[derive(Clone)]
pub struct ReadModel(Arc<Shared>);

impl ReadModel {
    pub fn new(fanout: Arc<dyn Fanout>, origin: Arc<str>, max_age: Duration) -> ReadModel {
        ReadModel(Arc::new(Shared {
            generations: Default::default(),
            announced: Default::default(),
            due: Default::default(),
            fanout,
            origin,
            max_age,
        }))
    }

    fn generation(&self, topic: Topic) -> u64 {
        self.0.generations[topic as usize].load(Ordering::Acquire)
    }

    fn bump(&self, topic: Topic) {
        self.0.generations[topic as usize].fetch_add(1, Ordering::AcqRel);
    }

    /// After a commit that every instance must show at once (an admin's edit
    /// of a price, a plan, a match): here at once, elsewhere as soon as the
    /// fan-out delivers it.
    pub fn changed(&self, topic: Topic) {
        self.bump(topic);
        self.announce(topic);
    }

    /// After a sale moved seats or stock: here at once (a fan sees their own
    /// purchase), on other instances with the next announcement of this
    /// instance's sales (within [`SALES_ANNOUNCED_EVERY`]).
    pub fn sold(&self, topic: Topic) {
        self.bump(topic);
        let i = topic as usize;
        if self.0.due[i].swap(true, Ordering::AcqRel) {
            return;
        }
        let since = now_ms() - self.0.announced[i].load(Ordering::Acquire);
        let wait = SALES_ANNOUNCED_EVERY.as_millis() as i64 - since;
        if wait <= 0 {
            self.0.due[i].store(false, Ordering::Release);
            self.announce(topic);
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            // Cleared first: a sale from now on is announced again.
            me.0.due[i].store(false, Ordering::Release);
            me.announce(topic);
        });
    }

    fn announce(&self, topic: Topic) {
        self.0.announced[topic as usize].store(now_ms(), Ordering::Release);
        self.0.fanout.publish(Event {
            topic: "readmodel".into(),
            kind: CHANGED.into(),
            payload: serde_json::json!({ "topic": topic.name(), "origin": &*self.0.origin }),
            id: None,
        });
    }

    /// Applies the changes other instances announce, until the fan-out closes.
    pub async fn follow(self) {
        let mut events = self.0.fanout.subscribe();
        loop {
            match events.recv().await {
                Ok(e) if e.kind == CHANGED => {
                    let from_here = e.payload["origin"].as_str() == Some(&*self.0.origin);
                    if let (false, Some(t)) = (
                        from_here,
                        e.payload["topic"].as_str().and_then(Topic::parse),
                    ) {
                        self.bump(t);
                    }
                }
                Ok(_) => {}
                // Some announcements were missed: everything may have changed.
                Err(RecvError::Lagged(_)) => Topic::ALL.into_iter().for_each(|t| self.bump(t)),
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// An empty view of `topic`, filled on first use.
    pub fn view<T>(&self, topic: Topic) -> View<T> {
        View(Arc::new(ViewInner {
            model: self.clone(),
            topic,
            current: ArcSwapOption::empty(),
            filling: tokio::sync::Mutex::new(()),
        }))
    }
}

struct ViewInner<T> {
    model: ReadModel,
    topic: Topic,
    current: ArcSwapOption<Snapshot<T>>,
    /// Held by the one request filling the view.
    filling: tokio::sync::Mutex<()>,
}

/// One topic's data as a request sees it; cheap to clone.
pub struct View<T>(Arc<ViewInner<T>>);

impl<T> Clone for View<T> {
    fn clone(&self) -> Self {
        View(self.0.clone())
    }
}

/// What a fill read, and the wall-clock time (ms) from which it is out of
/// date whatever happens (`i64::MAX`: none).
pub struct Filled<T> {
    pub data: T,
    pub stale_at_ms: i64,
}

impl<T> From<T> for Filled<T> {
    fn from(data: T) -> Self {
        Filled {
            data,
            stale_at_ms: i64::MAX,
        }
    }
}

pub struct Snapshot<T> {
    pub data: T,
    generation: u64,
    filled_at: Instant,
    stale_at_ms: i64,
    rendered: Mutex<HashMap<String, Arc<Rendered>>>,
}

/// An answer serialised once, with the tag its `ETag` is made of, and the
/// other forms of it asked for (older API versions), each made once.
#[derive(Debug)]
pub struct Rendered {
    pub json: Bytes,
    pub tag: String,
    forms: Mutex<HashMap<&'static str, Bytes>>,
}

impl Rendered {
    pub fn new(value: &impl Serialize) -> Result<Rendered, serde_json::Error> {
        let json = Bytes::from(serde_json::to_vec(value)?);
        let tag = hex::encode(&Sha256::digest(&json)[..10]);
        Ok(Rendered {
            json,
            tag,
            forms: Mutex::new(HashMap::new()),
        })
    }

    /// The answer in form `name`, made from `json` by `make` the first time.
    pub fn form(&self, name: &'static str, make: impl FnOnce(&[u8]) -> Bytes) -> Bytes {
        // A panic while holding it left a map that is still valid.
        let lock = || self.forms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = lock().get(name) {
            return b.clone();
        }
        let made = make(&self.json);
        lock().insert(name, made.clone());
        made
    }
}

impl<T> View<T> {
    /// The current snapshot, filled by `fill` when there is none: by this
    /// request, or by the one already filling, whose result it waits for.
    pub async fn get<E, F, Fut, D>(&self, fill: F) -> Result<Arc<Snapshot<T>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<D, E>>,
        D: Into<Filled<T>>,
    {
        let v = &self.0;
        // A snapshot whose fill started after every change known now holds
        // every write committed before this request arrived.
        let arrived = v.model.generation(v.topic);
        if let Some(s) = self.usable(arrived) {
            return Ok(s);
        }
        if v.model.0.max_age.is_zero() {
            let started = Instant::now();
            return Ok(Arc::new(self.snapshot(
                arrived,
                started,
                fill().await?.into(),
            )));
        }
        let _one = v.filling.lock().await;
        if let Some(s) = self.usable(arrived) {
            return Ok(s);
        }
        // Read before the fill: a change committed while it runs leaves this
        // snapshot out of date at once. Its age counts from before the fill
        // too, so what it shows is never older than `max_age`.
        let generation = v.model.generation(v.topic);
        let started = Instant::now();
        let s = Arc::new(self.snapshot(generation, started, fill().await?.into()));
        v.current.store(Some(s.clone()));
        Ok(s)
    }

    fn usable(&self, arrived: u64) -> Option<Arc<Snapshot<T>>> {
        let s = self.0.current.load_full()?;
        (s.generation >= arrived
            && s.filled_at.elapsed() < self.0.model.0.max_age
            && now_ms() < s.stale_at_ms)
            .then_some(s)
    }

    fn snapshot(&self, generation: u64, started: Instant, filled: Filled<T>) -> Snapshot<T> {
        Snapshot {
            data: filled.data,
            generation,
            filled_at: started,
            stale_at_ms: filled.stale_at_ms,
            rendered: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Snapshot<T> {
    /// The answer to the query `key`, rendered by `answer` the first time it
    /// is asked of this snapshot.
    pub fn rendered<S: Serialize>(
        &self,
        key: &str,
        answer: impl FnOnce(&T) -> S,
    ) -> Result<Arc<Rendered>, serde_json::Error> {
        if let Some(r) = self.lock().get(key) {
            return Ok(r.clone());
        }
        let r = Arc::new(Rendered::new(&answer(&self.data))?);
        let mut kept = self.lock();
        if kept.len() < MAX_RENDERED {
            kept.insert(key.to_owned(), r.clone());
        }
        Ok(r)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Rendered>>> {
        // A panic while holding it left a map that is still valid.
        self.rendered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::fanout::LocalFanout;
    use std::sync::atomic::AtomicUsize;

    fn model(max_age: Duration) -> ReadModel {
        ReadModel::new(Arc::new(LocalFanout::new(16)), Arc::from("here"), max_age)
    }

    async fn read(view: &View<u64>, fills: &Arc<AtomicUsize>) -> u64 {
        let fills = fills.clone();
        view.get(|| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>(fills.fetch_add(1, Ordering::SeqCst) as u64 + 1)
        })
        .await
        .map(|s| s.data)
        .unwrap_or(0)
    }

    #[tokio::test]
    async fn a_thousand_requests_on_a_cold_view_fill_it_once() {
        let view = model(Duration::from_secs(60)).view::<u64>(Topic::Products);
        let fills = Arc::new(AtomicUsize::new(0));
        let reads = (0..1000).map(|_| read(&view, &fills));
        let seen = futures::future::join_all(reads).await;
        assert_eq!(fills.load(Ordering::SeqCst), 1);
        assert!(seen.iter().all(|&s| s == 1));
    }

    #[tokio::test]
    async fn a_change_makes_the_next_read_fill_again() {
        let m = model(Duration::from_secs(60));
        let view = m.view::<u64>(Topic::Events);
        let fills = Arc::new(AtomicUsize::new(0));
        assert_eq!(read(&view, &fills).await, 1);
        assert_eq!(read(&view, &fills).await, 1);
        m.sold(Topic::Products);
        assert_eq!(read(&view, &fills).await, 1, "another topic changed");
        m.sold(Topic::Events);
        assert_eq!(read(&view, &fills).await, 2);
    }

    #[tokio::test]
    async fn a_change_during_a_fill_leaves_that_fill_out_of_date() {
        let m = model(Duration::from_secs(60));
        let view = m.view::<u64>(Topic::Plans);
        let fills = Arc::new(AtomicUsize::new(0));
        let (first, _) = tokio::join!(read(&view, &fills), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            m.sold(Topic::Plans);
        });
        assert_eq!(first, 1);
        assert_eq!(read(&view, &fills).await, 2);
    }

    #[tokio::test]
    async fn snapshots_expire_with_age_and_at_their_own_boundary() {
        let view = model(Duration::from_millis(50)).view::<u64>(Topic::Clubs);
        let fills = Arc::new(AtomicUsize::new(0));
        assert_eq!(read(&view, &fills).await, 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(read(&view, &fills).await, 2);

        let view = model(Duration::from_secs(60)).view::<u64>(Topic::Clubs);
        let boundary = now_ms() + 30;
        let fill = |n: u64| async move {
            Ok::<_, ()>(Filled {
                data: n,
                stale_at_ms: boundary,
            })
        };
        assert_eq!(view.get(|| fill(1)).await.map(|s| s.data), Ok(1));
        assert_eq!(view.get(|| fill(2)).await.map(|s| s.data), Ok(1));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(view.get(|| fill(3)).await.map(|s| s.data), Ok(3));
    }

    #[tokio::test]
    async fn another_instances_change_arrives_through_the_fanout() {
        let fanout: Arc<dyn Fanout> = Arc::new(LocalFanout::new(16));
        let here = ReadModel::new(fanout.clone(), Arc::from("a"), Duration::from_secs(60));
        let there = ReadModel::new(fanout, Arc::from("b"), Duration::from_secs(60));
        let follower = tokio::spawn(there.clone().follow());
        tokio::task::yield_now().await;
        here.changed(Topic::Products);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(there.generation(Topic::Products), 1);
        assert_eq!(
            here.generation(Topic::Products),
            1,
            "its own echo is ignored"
        );
        // A burst of sales: the first announced at once, the rest together
        // once the period is over.
        for _ in 0..50 {
            here.sold(Topic::Events);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(there.generation(Topic::Events), 1);
        tokio::time::sleep(SALES_ANNOUNCED_EVERY).await;
        assert_eq!(there.generation(Topic::Events), 2);
        assert_eq!(here.generation(Topic::Events), 50);
        follower.abort();
    }

    #[test]
    fn rendered_answers_are_kept_per_query() {
        let view = model(Duration::from_secs(60)).view::<Vec<u32>>(Topic::Clubs);
        let s = view.snapshot(0, Instant::now(), vec![1, 2, 3].into());
        let a = s.rendered("all", |d| d.clone()).unwrap();
        let again = s.rendered("all", |_| vec![9]).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(&a.json[..], b"[1,2,3]");
        let other = s.rendered("first", |d| d[..1].to_vec()).unwrap();
        assert_ne!(a.tag, other.tag);
        // Another form (an older API version's JSON) is made once.
        let v1 = a.form("1.0", |j| Bytes::from([j, b"!"].concat()));
        assert_eq!(&v1[..], b"[1,2,3]!");
        assert_eq!(a.form("1.0", |_| Bytes::from_static(b"again")), v1);
    }
}
