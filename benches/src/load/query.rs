//! The querier: selective `Query` calls at a fixed rate while the appenders
//! run, each timed from call to response.
//!
//! The values searched for come from generators seeded like the appenders'
//! (one per appending connection, taken in turn), so that every value
//! queried is one the appended data holds, with the same skew: popular
//! actors and actions are asked about more often. The mix, in turn, each a
//! page of at most [`LIMIT`] records:
//!
//! 1. `actor.id` = an actor, newest first;
//! 2. `action` = an action, in the two hours around an event's time, newest
//!    first;
//! 3. `tenant` = a tenant and `outcome` = `denied`, newest first;
//! 4. `resource.id` = a resource, oldest first;
//! 5. `action` = an area prefix (`git.*`) and `tenant` = a tenant, in the
//!    two days around an event's time, newest first.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use stele_proto::v1::{Filter, Order, QueryRequest, Selection};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior, interval, timeout};

use super::connect::SteleApi;
use super::{ANSWER_TIMEOUT, ErrorPrinter, Phase, histogram, micros, status_text};
use crate::{Generator, Profile};

/// Records per page asked for.
pub const LIMIT: u32 = 100;
/// Queries outstanding at most; a tick that finds this many is skipped.
const MAX_IN_FLIGHT: usize = 64;
/// One hour, in nanoseconds.
const HOUR_NS: i64 = 3_600_000_000_000;
/// The number of query shapes in the mix.
const SHAPES: usize = 5;

/// What the querier does.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// Log to search.
    pub log: String,
    /// Queries started per second.
    pub per_sec: f64,
    /// Seeds of the appenders' generators.
    pub seeds: Vec<u64>,
    /// Their profile.
    pub profile: Profile,
}

/// What the querier achieved.
#[derive(Debug)]
pub struct QueryStats {
    /// Latency of each successful query, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The same per shape of the mix, in the mix's order.
    pub by_shape: Vec<(&'static str, Histogram<u64>)>,
    /// Queries answered.
    pub queries: u64,
    /// Records returned in all.
    pub records: u64,
    /// Queries failed or unanswered.
    pub errors: u64,
    /// Ticks skipped because [`MAX_IN_FLIGHT`] queries were outstanding.
    pub skipped: u64,
    /// How long queries were being started.
    pub elapsed: Duration,
}

/// The selective queries, drawn one at a time; see the module docs.
#[derive(Debug)]
pub struct QueryMix {
    log: String,
    generators: Vec<Generator>,
    drawn: usize,
}

impl QueryMix {
    /// A mix over `log` whose values come from generators seeded with
    /// `seeds` (at least one) drawing `profile`.
    pub fn new(log: &str, seeds: &[u64], profile: Profile) -> QueryMix {
        assert!(!seeds.is_empty(), "the query mix needs a seed");
        QueryMix {
            log: log.to_string(),
            generators: seeds
                .iter()
                .map(|&seed| Generator::with_profile(seed, profile))
                .collect(),
            drawn: 0,
        }
    }

    /// The next query, and the name of its shape.
    pub fn next_request(&mut self) -> (&'static str, QueryRequest) {
        let turn = self.drawn;
        self.drawn += 1;
        let n = self.generators.len();
        let event = self.generators[turn % n].next_event();
        let around = |half_ns: i64| {
            (
                event.time.map(|t| t.saturating_sub(half_ns)),
                event.time.map(|t| t.saturating_add(half_ns)),
            )
        };
        let (name, filters, (from_time_ns, to_time_ns), order) = match (turn / n) % SHAPES {
            0 => (
                "actor.id",
                vec![filter("actor.id", &event.actor.id)],
                (None, None),
                Order::NewestFirst,
            ),
            1 => (
                "action in 2 h",
                vec![filter("action", &event.action)],
                around(HOUR_NS),
                Order::NewestFirst,
            ),
            2 => (
                "tenant denied",
                vec![filter("tenant", &event.tenant), filter("outcome", "denied")],
                (None, None),
                Order::NewestFirst,
            ),
            3 => (
                "resource.id oldest",
                vec![filter("resource.id", &event.resource.id)],
                (None, None),
                Order::OldestFirst,
            ),
            _ => {
                let area = event.action.split('.').next().unwrap_or_default();
                (
                    "area and tenant in 2 d",
                    vec![
                        filter("action", &format!("{area}.*")),
                        filter("tenant", &event.tenant),
                    ],
                    around(24 * HOUR_NS),
                    Order::NewestFirst,
                )
            }
        };
        let request = QueryRequest {
            log: self.log.clone(),
            selection: Some(Selection {
                from_time_ns,
                to_time_ns,
                filters,
                text: String::new(),
            }),
            order: order as i32,
            limit: LIMIT,
            cursor: String::new(),
        };
        (name, request)
    }
}

/// An exact filter on one value.
fn filter(field: &str, value: &str) -> Filter {
    Filter {
        field: field.to_string(),
        values: vec![value.to_string()],
    }
}

/// What one query task reports: its latency and the records it got, or
/// what went wrong.
type Answer = Result<(&'static str, Duration, usize), String>;

/// Starts `plan.per_sec` queries a second until the phase leaves
/// [`Phase::Appending`], then waits for the outstanding ones.
pub async fn run(
    client: SteleApi,
    plan: QueryPlan,
    mut phase: watch::Receiver<Phase>,
    errors: Arc<ErrorPrinter>,
) -> QueryStats {
    let mut mix = QueryMix::new(&plan.log, &plan.seeds, plan.profile);
    let mut ticks = interval(Duration::from_secs_f64(1.0 / plan.per_sec));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut running: JoinSet<Answer> = JoinSet::new();
    let mut stats = QueryStats {
        latency_us: histogram(),
        by_shape: Vec::new(),
        queries: 0,
        records: 0,
        errors: 0,
        skipped: 0,
        elapsed: Duration::ZERO,
    };
    let start = Instant::now();
    while *phase.borrow() == Phase::Appending {
        tokio::select! {
            _ = ticks.tick() => {
                if running.len() >= MAX_IN_FLIGHT {
                    stats.skipped += 1;
                } else {
                    let (name, request) = mix.next_request();
                    let mut client = client.clone();
                    running.spawn(async move {
                        let sent = Instant::now();
                        match timeout(ANSWER_TIMEOUT, client.query(request)).await {
                            Ok(Ok(response)) => {
                                Ok((name, sent.elapsed(), response.into_inner().records.len()))
                            }
                            Ok(Err(status)) => Err(format!("{name}: {}", status_text(&status))),
                            Err(_) => Err(format!(
                                "{name}: no answer within {} s",
                                ANSWER_TIMEOUT.as_secs()
                            )),
                        }
                    });
                }
            }
            Some(done) = running.join_next(), if !running.is_empty() => {
                stats.absorb(done, &errors);
            }
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    stats.elapsed = start.elapsed();
    while let Some(done) = running.join_next().await {
        stats.absorb(done, &errors);
    }
    stats
}

impl QueryStats {
    /// Counts one finished query.
    fn absorb(&mut self, done: Result<Answer, JoinError>, errors: &ErrorPrinter) {
        match done {
            Ok(Ok((shape, latency, records))) => {
                self.latency_us.saturating_record(micros(latency));
                let at = match self.by_shape.iter().position(|(name, _)| *name == shape) {
                    Some(at) => at,
                    None => {
                        self.by_shape.push((shape, histogram()));
                        self.by_shape.len() - 1
                    }
                };
                self.by_shape[at].1.saturating_record(micros(latency));
                self.queries += 1;
                self.records += records as u64;
            }
            Ok(Err(message)) => {
                self.errors += 1;
                errors.report("query", &message);
            }
            Err(failed) => {
                self.errors += 1;
                errors.report("query", &format!("query task failed: {failed}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_cycles_through_its_shapes_over_every_generator() {
        let mut mix = QueryMix::new("load", &[1, 2], Profile::Standard);
        let names: Vec<&str> = (0..2 * SHAPES).map(|_| mix.next_request().0).collect();
        assert_eq!(names[0], names[1]);
        let distinct: std::collections::HashSet<&str> = names.iter().copied().collect();
        assert_eq!(distinct.len(), SHAPES);
        let (_, request) = mix.next_request();
        let selection = request.selection.unwrap();
        assert_eq!(request.limit, LIMIT);
        assert!(selection.filters.iter().all(|f| !f.values[0].is_empty()));
    }

    #[test]
    fn windows_surround_the_drawn_event() {
        let mut mix = QueryMix::new("load", &[3], Profile::Rich);
        mix.next_request();
        let (name, request) = mix.next_request();
        assert_eq!(name, "action in 2 h");
        let selection = request.selection.unwrap();
        let (from, to) = (
            selection.from_time_ns.unwrap(),
            selection.to_time_ns.unwrap(),
        );
        assert_eq!(to - from, 2 * HOUR_NS);
    }
}
