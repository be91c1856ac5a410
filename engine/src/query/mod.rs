//! What a search asks and returns: [`Query`] (time range, exact filters,
//! full text, order, limit, cursor), [`Page`], and the aggregation results.
//! `docs/query.md` is the user's guide to all of it.
//!
//! - [`any_path`]: a bare word or phrase searched in every string of
//!   `details`, whatever its path.
//! - [`cursor`]: the opaque cursor that continues a query.
//! - [`compile`]: turning a query into a tantivy query, and the text query's
//!   checks.
//! - [`matcher`]: checking a stored event against a query, which every
//!   result passes before it is returned.
//! - [`network`]: network filters on `actor.ip` (`10.0.0.0/8`).

pub(crate) mod any_path;
pub mod compile;
pub mod cursor;
pub mod matcher;
pub(crate) mod network;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::event::Event;
pub use crate::index::schema::ExactField;
use crate::record::Record;

/// Results per page when the query does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page.
pub const MAX_LIMIT: usize = 10_000;
/// Top values an aggregation returns when it does not say.
pub const DEFAULT_TOP: usize = 10;
/// The most buckets a date histogram may have.
pub const MAX_BUCKETS: usize = 10_000;

/// Result order: by event `time`, ties broken by seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Latest first.
    #[default]
    NewestFirst,
    /// Earliest first.
    OldestFirst,
}

/// One exact filter: the field has one of `values`. A value ending in `*`
/// matches every value that starts with what comes before the star
/// (`git.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The field.
    pub field: ExactField,
    /// Accepted values (OR).
    pub values: Vec<String>,
}

impl Filter {
    /// Checks the values: at least one, none empty or `*` (which would
    /// match everything), and on `actor.ip` a value that starts as a
    /// network (`10.0.0.0/8`) must be one.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] naming the filter.
    pub fn check(&self) -> Result<()> {
        let what = || format!("filter {}", self.field);
        if self.values.is_empty() {
            return Err(Error::query(what(), "has no value"));
        }
        if let Some(bad) = self.values.iter().find(|v| v.is_empty() || *v == "*") {
            return Err(Error::query(
                what(),
                format!("`{bad}` matches everything; leave the filter out instead"),
            ));
        }
        if self.field == ExactField::ActorIp {
            for value in self.values.iter().filter(|v| !v.ends_with('*')) {
                network::ip_filter(value).map_err(|reason| Error::query(what(), reason))?;
            }
        }
        Ok(())
    }
}

/// A search over one log. Filters on different fields must all match (AND).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Earliest event time, inclusive, ns since the epoch.
    pub from: Option<i64>,
    /// Latest event time, exclusive.
    pub to: Option<i64>,
    /// Exact filters.
    pub filters: Vec<Filter>,
    /// Full text in tantivy's syntax over `message` and `details`, and
    /// exact fields by name (`actor.id:alice action:git.*
    /// actor.ip:10.0.0.0/8`, as filters take them); empty for none. Words
    /// are joined by AND unless the text says `OR`.
    pub text: String,
    /// Result order.
    pub order: Order,
    /// Page size, 1 to [`MAX_LIMIT`].
    pub limit: usize,
    /// The `next_cursor` of the previous page of this same query.
    pub cursor: Option<String>,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            from: None,
            to: None,
            filters: Vec::new(),
            text: String::new(),
            order: Order::default(),
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl Query {
    /// Adds a filter: `field` is one of `values`.
    #[must_use]
    pub fn filter(mut self, field: ExactField, values: &[&str]) -> Query {
        self.filters.push(Filter {
            field,
            values: values.iter().map(|v| (*v).to_string()).collect(),
        });
        self
    }

    /// Checks the parts that need no index: limit, time range, filters.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] naming the part.
    pub fn check(&self) -> Result<()> {
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(Error::query(
                "limit",
                format!("{} is not between 1 and {MAX_LIMIT}", self.limit),
            ));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(Error::query(
                "time range",
                format!("`from` ({from}) is after `to` ({to})"),
            ));
        }
        for filter in &self.filters {
            filter.check()?;
        }
        Ok(())
    }
}

/// One result: the stored record, and its event unless it was erased.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The record, as read from its segment.
    pub record: Record,
    /// Its decoded event; `None` for a redacted record.
    pub event: Option<Event>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The results, in the query's order.
    pub hits: Vec<Hit>,
    /// Pass this as the query's cursor for the next page; `None` when this
    /// page is the last.
    pub next_cursor: Option<String>,
    /// What the search touched.
    pub stats: SearchStats,
}

/// What a search or aggregation touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Seq below which the query sees records (its snapshot).
    pub snapshot: u64,
    /// Segment indexes searched.
    pub segments_searched: usize,
    /// Segments skipped because their time bounds miss the range, or
    /// because the page was full before they were reached.
    pub segments_skipped: usize,
}

/// Counts per value of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// The top values, most frequent first (ties by value).
    pub top: Vec<(String, u64)>,
    /// Matching events with another value.
    pub other: u64,
    /// Matching events without the field.
    pub missing: u64,
    /// All matching events.
    pub total: u64,
    /// What the aggregation touched.
    pub stats: SearchStats,
}

/// One bucket of a date histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the bucket, ns since the epoch (a multiple of the interval).
    pub start: i64,
    /// Matching events in it.
    pub count: u64,
    /// With a split: the count of each of the split's top values, in the
    /// order of [`Histogram::split_values`].
    pub split: Vec<u64>,
}

/// Event counts over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// Bucket width in ns.
    pub interval: i64,
    /// Every bucket from the first to the last with an event (or across the
    /// query's time range when it has both ends), empty ones included.
    pub buckets: Vec<Bucket>,
    /// With a split: its top values over the whole range, most frequent
    /// first; each bucket counts them, and the rest is `count` minus their sum.
    pub split_values: Vec<String>,
    /// All matching events.
    pub total: u64,
    /// What the aggregation touched.
    pub stats: SearchStats,
}

/// What an aggregation computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// How many events match.
    Count,
    /// The `top` most frequent values of `field` among them.
    CountBy {
        /// The field.
        field: ExactField,
        /// How many values.
        top: usize,
    },
    /// A date histogram of `interval_ns` buckets, optionally split by the
    /// top values of a field.
    Histogram {
        /// Bucket width.
        interval_ns: i64,
        /// The split field and how many of its values.
        split: Option<(ExactField, usize)>,
    },
}

/// An aggregation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aggregated {
    /// [`Aggregation::Count`], and the index snapshot it saw.
    Count {
        /// Matching events.
        count: u64,
        /// Seq below which it saw records.
        snapshot: u64,
    },
    /// [`Aggregation::CountBy`].
    Terms(Terms),
    /// [`Aggregation::Histogram`].
    Histogram(Histogram),
}
