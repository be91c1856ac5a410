//! Selections, paged queries and the record stream that walks every page
//! with the cursor.

use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use stele_proto::v1;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::event::Record;

/// Which records: all of the conditions must hold. See docs/query.md.
///
/// ```
/// use stele_client::Selection;
/// let failed_pushes = Selection::new()
///     .filter("action", ["git.*"])
///     .filter("outcome", ["failure", "denied"])
///     .text("branch:main");
/// # let _ = failed_pushes;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Event time at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Event time before this.
    pub to: Option<DateTime<Utc>>,
    /// Exact filters: field and accepted values (a value ending in `*` is a
    /// prefix). Filters are ANDed, values ORed.
    pub filters: Vec<(String, Vec<String>)>,
    /// Full text in tantivy syntax over `message` and `details`.
    pub text: String,
}

impl Selection {
    /// Every record.
    pub fn new() -> Selection {
        Selection::default()
    }

    /// Event time at or after `from`.
    #[must_use]
    pub fn from(mut self, from: DateTime<Utc>) -> Selection {
        self.from = Some(from);
        self
    }

    /// Event time before `to`.
    #[must_use]
    pub fn to(mut self, to: DateTime<Utc>) -> Selection {
        self.to = Some(to);
        self
    }

    /// `field` equals one of `values`: `tenant`, `actor.id`, `actor.ip`,
    /// `action`, `resource.kind`, `resource.id`, `outcome`, `source`,
    /// `correlation_id`, `request_id`.
    #[must_use]
    pub fn filter<V: Into<String>>(
        mut self,
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Selection {
        self.filters
            .push((field.into(), values.into_iter().map(Into::into).collect()));
        self
    }

    /// Full text, in tantivy syntax; words are ANDed.
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> Selection {
        self.text = text.into();
        self
    }

    /// The wire form.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `from` or `to` when a time is outside the
    /// range of nanosecond timestamps (years 1677 to 2262).
    pub fn to_proto(&self) -> Result<v1::Selection> {
        Ok(v1::Selection {
            from_time_ns: self.from.map(|t| nanos("from", t)).transpose()?,
            to_time_ns: self.to.map(|t| nanos("to", t)).transpose()?,
            filters: self
                .filters
                .iter()
                .map(|(field, values)| v1::Filter {
                    field: field.clone(),
                    values: values.clone(),
                })
                .collect(),
            text: self.text.clone(),
        })
    }
}

/// `time` in nanoseconds since the epoch.
pub(crate) fn nanos(field: &str, time: DateTime<Utc>) -> Result<i64> {
    time.timestamp_nanos_opt()
        .ok_or_else(|| Error::invalid(field, "is outside years 1677 to 2262"))
}

/// Result order: by event time, ties broken by seq.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Newest first.
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}

/// A search: a selection, an order and a page size.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which records.
    pub selection: Selection,
    /// In which order.
    pub order: Order,
    /// Records per page (at most 10,000).
    pub page_size: u32,
}

impl Query {
    /// `selection`, newest first, 100 a page.
    pub fn new(selection: Selection) -> Query {
        Query {
            selection,
            order: Order::NewestFirst,
            page_size: 100,
        }
    }

    /// Sets the order.
    #[must_use]
    pub fn order(mut self, order: Order) -> Query {
        self.order = order;
        self
    }

    /// Sets the page size.
    #[must_use]
    pub fn page_size(mut self, page_size: u32) -> Query {
        self.page_size = page_size;
        self
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    /// The records, in the query's order.
    pub records: Vec<Record>,
    /// Pass to [`Client::query_page`] for the next page; `None` at the end.
    pub next_cursor: Option<String>,
    /// What the search did.
    pub stats: v1::SearchStats,
}

/// Every matching record, page after page.
pub type RecordStream = Pin<Box<dyn Stream<Item = Result<Record>> + Send>>;

impl Client {
    /// One page; `cursor` is the previous page's `next_cursor`, `None` for
    /// the first.
    ///
    /// # Errors
    /// The server's status: `INVALID_ARGUMENT` naming a bad filter, text
    /// (with its position) or cursor.
    pub async fn query_page(&self, log: &str, query: &Query, cursor: Option<&str>) -> Result<Page> {
        let response = self
            .stele_rpc()
            .query(v1::QueryRequest {
                log: log.to_string(),
                selection: Some(query.selection.to_proto()?),
                order: match query.order {
                    Order::NewestFirst => v1::Order::NewestFirst,
                    Order::OldestFirst => v1::Order::OldestFirst,
                } as i32,
                limit: query.page_size,
                cursor: cursor.unwrap_or_default().to_string(),
            })
            .await?
            .into_inner();
        Ok(Page {
            records: response
                .records
                .into_iter()
                .map(Record::from_proto)
                .collect::<Result<_>>()?,
            next_cursor: Some(response.next_cursor).filter(|c| !c.is_empty()),
            stats: response.stats.unwrap_or_default(),
        })
    }

    /// Every matching record, fetching the next page when the current one
    /// is used up. The walk is pinned to the first page's snapshot, so each
    /// matching record comes exactly once even while appends go on.
    ///
    /// ```no_run
    /// # async fn demo(client: stele_client::Client) -> stele_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use stele_client::{Query, Selection};
    /// let mut records = client.query("audit", Query::new(Selection::new().filter("actor.id", ["alice"])));
    /// while let Some(record) = records.try_next().await? {
    ///     println!("{} {:?}", record.seq, record.event.map(|e| e.action));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query(&self, log: &str, query: Query) -> RecordStream {
        enum State {
            Start,
            Next(String),
            Done,
        }
        let (client, log) = (self.clone(), log.to_string());
        let pages = stream::try_unfold(State::Start, move |state| {
            let (client, log, query) = (client.clone(), log.clone(), query.clone());
            async move {
                let cursor = match state {
                    State::Start => None,
                    State::Next(cursor) => Some(cursor),
                    State::Done => return Ok(None),
                };
                let page = client.query_page(&log, &query, cursor.as_deref()).await?;
                let next = page.next_cursor.map_or(State::Done, State::Next);
                Ok::<_, Error>(Some((page.records, next)))
            }
        });
        pages
            .map_ok(|records| stream::iter(records.into_iter().map(Ok::<_, Error>)))
            .try_flatten()
            .boxed()
    }
}
