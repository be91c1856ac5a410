//! Searching and aggregating a log through its segment indexes.
//!
//! A search pins a snapshot (the index watermark, or the cursor's), keeps
//! the segments whose time bounds meet the range, and walks them in the
//! query's order of their bounds: newest first by latest time, oldest first
//! by earliest time. Each segment index yields its best keys (time, seq);
//! the walk stops as soon as the page is full and no later segment could
//! hold a better key. Segment time bounds may overlap (events arrive out of
//! order), which this stopping rule allows for. The hits are then read from
//! the segments (through the block cache) and checked against the query.
//! The segments and their indexes are pinned together, so compaction and
//! erasure may swap them during a search; a hit erased since is left out.

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::read::ReadRun;
use super::{Log, Segment};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::index::INDEX_DIR;
use crate::index::collect::{Count, Counts, Key, TopHits, TopKeys};
use crate::index::segment_index::SegmentIndex;
use crate::pools;
use crate::query::compile::compile;
use crate::query::cursor::{Cursor, fingerprint};
use crate::query::{
    Aggregated, Aggregation, Bucket, DEFAULT_TOP, ExactField, Histogram, Hit, MAX_BUCKETS, Order,
    Page, Query, SearchStats, Terms, matcher,
};
use crate::record::{Record, RecordBody};
use crate::segment::SegmentStats;

/// A segment a search may look into: its time bounds, the segment, and its
/// index as pinned with the view.
type Candidate = (SegmentStats, Segment, Option<Arc<SegmentIndex>>);
/// The candidates of a search, and what it skipped.
type Candidates = (Vec<Candidate>, SearchStats);

impl Log {
    /// One page of the records matching `query`, in its order.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] naming the part of the query at fault;
    /// [`Error::Index`] when an index disagrees with its segment (rebuild it
    /// with [`Log::rebuild_index`]); read errors.
    pub fn search(&self, query: &Query) -> Result<Page> {
        let compiled = compile(query, self.index.fields())?;
        let cursor = match &query.cursor {
            Some(text) => Some(Cursor::decode(text, query)?),
            None => None,
        };
        let snapshot = cursor.map_or_else(|| self.index_watermark(), |c| c.snapshot);
        let newest_first = query.order == Order::NewestFirst;
        let after = cursor.map(|c| c.after);
        let started = Instant::now();
        let (mut candidates, mut stats) = self.candidates(query, snapshot, after);
        candidates.sort_by_key(|(s, _, _)| {
            if newest_first {
                -i128::from(s.max_time)
            } else {
                i128::from(s.min_time)
            }
        });
        let mut top = TopKeys::new(query.limit, newest_first);
        let collector = TopHits {
            limit: query.limit,
            newest_first,
            after,
            from_seq: 0,
            below_seq: snapshot,
        };
        for (i, (bounds, segment, ix)) in candidates.iter().enumerate() {
            let best: Key = if newest_first {
                (bounds.max_time, segment.next_seq().min(snapshot) - 1)
            } else {
                (bounds.min_time, segment.first_seq())
            };
            if top.full_against(best) {
                stats.segments_skipped += candidates.len() - i;
                break;
            }
            let ix = self.pinned_index(segment, ix)?;
            let keys = ix
                .searcher()
                .search(&*compiled, &collector)
                .map_err(Error::index(ix.dir()))?;
            stats.segments_searched += 1;
            top.extend(keys);
        }
        let keys = top.into_sorted();
        let searched = started.elapsed();
        let (hits, decoded) = self.read_hits(query, &keys)?;
        tracing::debug!(
            log = %self.name,
            segments = stats.segments_searched,
            hits = hits.len(),
            blocks_decoded = decoded,
            index_ms = searched.as_secs_f64() * 1e3,
            read_ms = (started.elapsed() - searched).as_secs_f64() * 1e3,
            "searched"
        );
        let next_cursor = (keys.len() == query.limit).then(|| {
            Cursor {
                order: query.order,
                after: *keys.last().expect("a full page has a last key"),
                snapshot,
                fingerprint: fingerprint(query),
            }
            .encode()
        });
        Ok(Page {
            hits,
            next_cursor,
            stats,
        })
    }

    /// How many records match `query` (its order, limit and cursor aside).
    ///
    /// # Errors
    /// As [`Log::search`].
    pub fn count(&self, query: &Query) -> Result<u64> {
        Ok(self
            .count_matching(query, None, None, &Cancel::default())?
            .0
            .total)
    }

    /// Runs `what` over the records matching `query`, as [`Log::count`],
    /// [`Log::count_by`] and [`Log::histogram`] do, but stops with
    /// [`Error::Cancelled`] soon after `cancel` is set.
    ///
    /// # Errors
    /// As those; [`Error::Cancelled`] once called off.
    pub fn aggregate(
        &self,
        query: &Query,
        what: Aggregation,
        cancel: &Cancel,
    ) -> Result<Aggregated> {
        Ok(match what {
            Aggregation::Count => {
                let (counts, stats) = self.count_matching(query, None, None, cancel)?;
                Aggregated::Count {
                    count: counts.total,
                    snapshot: stats.snapshot,
                }
            }
            Aggregation::CountBy { field, top } => {
                Aggregated::Terms(self.terms(query, field, top, cancel)?)
            }
            Aggregation::Histogram { interval_ns, split } => {
                Aggregated::Histogram(self.buckets(query, interval_ns, split, cancel)?)
            }
        })
    }

    /// Matching records counted by the value of `field`: the `top` most
    /// frequent values, plus the count of the rest.
    ///
    /// # Errors
    /// As [`Log::search`]; `top` must be between 1 and 10,000.
    pub fn count_by(&self, query: &Query, field: ExactField, top: usize) -> Result<Terms> {
        self.terms(query, field, top, &Cancel::default())
    }

    fn terms(
        &self,
        query: &Query,
        field: ExactField,
        top: usize,
        cancel: &Cancel,
    ) -> Result<Terms> {
        check_top(top)?;
        let (counts, stats) = self.count_matching(query, Some(field), None, cancel)?;
        let top_values = top_values(&counts, top);
        let listed: u64 = top_values.iter().map(|(_, n)| n).sum();
        Ok(Terms {
            other: counts.total - counts.missing - listed,
            missing: counts.missing,
            total: counts.total,
            top: top_values,
            stats,
        })
    }

    /// Matching records counted per `interval` (ns) of event time, buckets
    /// aligned on the Unix epoch; with `split`, also per value of that field
    /// for its top values.
    ///
    /// # Errors
    /// As [`Log::search`]; the interval must be positive and make at most
    /// 10,000 buckets.
    pub fn histogram(
        &self,
        query: &Query,
        interval: i64,
        split: Option<(ExactField, usize)>,
    ) -> Result<Histogram> {
        self.buckets(query, interval, split, &Cancel::default())
    }

    fn buckets(
        &self,
        query: &Query,
        interval: i64,
        split: Option<(ExactField, usize)>,
        cancel: &Cancel,
    ) -> Result<Histogram> {
        if interval <= 0 {
            return Err(Error::query(
                "interval",
                format!("{interval} ns is not positive"),
            ));
        }
        if let Some((_, top)) = split {
            check_top(top)?;
        }
        let bucket_of = |t: i64| t.div_euclid(interval) * interval;
        let buckets_between = |first: i64, last: i64| {
            ((i128::from(last) - i128::from(first)) / i128::from(interval) + 1) as u128
        };
        let too_many = |n: u128| {
            Error::query(
                "interval",
                format!(
                    "{interval} ns makes {n} buckets over the range, at most {MAX_BUCKETS} are allowed; widen it or narrow the range"
                ),
            )
        };
        if let (Some(from), Some(to)) = (query.from, query.to)
            && to > from
        {
            let n = buckets_between(bucket_of(from), bucket_of(to - 1));
            if n > MAX_BUCKETS as u128 {
                return Err(too_many(n));
            }
        }
        let (counts, stats) =
            self.count_matching(query, split.map(|s| s.0), Some(interval), cancel)?;
        let split_values: Vec<String> = split
            .map(|(_, top)| {
                top_values(&counts, top)
                    .into_iter()
                    .map(|(v, _)| v)
                    .collect()
            })
            .unwrap_or_default();
        let seen = counts.by_bucket.keys();
        let first = query
            .from
            .map(bucket_of)
            .or_else(|| seen.clone().min().copied());
        let last = query
            .to
            .map(|t| bucket_of(t - 1))
            .or_else(|| seen.max().copied());
        let empty_range = matches!((query.from, query.to), (Some(from), Some(to)) if from >= to);
        let mut buckets = Vec::new();
        if let (Some(first), Some(last)) = (first, last)
            && first <= last
            && !empty_range
        {
            let n = buckets_between(first, last);
            if n > MAX_BUCKETS as u128 {
                return Err(too_many(n));
            }
            for i in 0..n as i64 {
                let start = first + i * interval;
                let (count, values) = counts.by_bucket.get(&start).cloned().unwrap_or_default();
                buckets.push(Bucket {
                    start,
                    count,
                    split: split_values
                        .iter()
                        .map(|v| values.get(v).copied().unwrap_or(0))
                        .collect(),
                });
            }
        }
        Ok(Histogram {
            interval,
            buckets,
            split_values,
            total: counts.total,
            stats,
        })
    }

    /// Counts what `query` matches in every segment whose time bounds meet
    /// its range, segments in parallel on the scans pool
    /// ([`pools::scans`]); `cancel` is checked before each segment and each
    /// merge.
    fn count_matching(
        &self,
        query: &Query,
        field: Option<ExactField>,
        interval: Option<i64>,
        cancel: &Cancel,
    ) -> Result<(Counts, SearchStats)> {
        let compiled = compile(query, self.index.fields())?;
        let snapshot = self.index_watermark();
        let (candidates, mut stats) = self.candidates(query, snapshot, None);
        stats.segments_searched = candidates.len();
        let parts = pools::install(pools::scans(), || {
            candidates
                .par_iter()
                .map(|(_, segment, ix)| {
                    cancel.check()?;
                    let ix = self.pinned_index(segment, ix)?;
                    let collector = Count {
                        field: field.map(ExactField::column),
                        interval,
                        below_seq: if segment.next_seq() > snapshot {
                            snapshot
                        } else {
                            u64::MAX
                        },
                    };
                    ix.searcher()
                        .search(&*compiled, &collector)
                        .map_err(Error::index(ix.dir()))
                })
                .collect::<Result<Vec<Counts>>>()
        })?;
        let mut all = Counts::default();
        for part in parts {
            cancel.check()?;
            all.merge(part);
        }
        Ok((all, stats))
    }

    /// The segments below `snapshot` whose time bounds meet the query's
    /// range (and lie on the far side of the cursor), with their bounds and
    /// their indexes.
    ///
    /// The indexes are pinned with the view, under its read lock:
    /// compaction and erasure swap segments and indexes together under its
    /// write lock, so a search never pairs a segment with the index of
    /// another (which would miss or count records twice).
    fn candidates(&self, query: &Query, snapshot: u64, after: Option<Key>) -> Candidates {
        let pinned: Vec<(Segment, Option<Arc<SegmentIndex>>)> = {
            let view = self.view.read();
            view.iter()
                .map(|s| (s.clone(), self.index.segment(s.first_seq())))
                .collect()
        };
        let total = pinned.len();
        let newest_first = query.order == Order::NewestFirst;
        let candidates: Vec<Candidate> = pinned
            .into_iter()
            .filter(|(s, _)| s.first_seq() < snapshot)
            .map(|(s, ix)| (s.stats(), s, ix))
            .filter(|(b, _, _)| {
                b.records > 0
                    && query.from.is_none_or(|from| b.max_time >= from)
                    && query.to.is_none_or(|to| b.min_time < to)
                    && after.is_none_or(|(t, _)| {
                        if newest_first {
                            b.min_time <= t
                        } else {
                            b.max_time >= t
                        }
                    })
            })
            .collect();
        let stats = SearchStats {
            snapshot,
            segments_searched: 0,
            segments_skipped: total - candidates.len(),
        };
        (candidates, stats)
    }

    /// The index pinned for a segment below the watermark.
    pub(super) fn pinned_index(
        &self,
        segment: &Segment,
        ix: &Option<Arc<SegmentIndex>>,
    ) -> Result<Arc<SegmentIndex>> {
        ix.clone().ok_or_else(|| {
            self.index_error(format!("segment {} has no index", segment.first_seq()))
        })
    }

    /// An [`Error::Index`] about this log's index directory.
    fn index_error(&self, reason: String) -> Error {
        Error::Index {
            dir: self.dir.join(INDEX_DIR),
            reason,
        }
    }

    /// The records at `keys` (a page of a search's hits, in its order),
    /// each checked against the query, leaving out those erased since the
    /// search pinned its indexes (a redacted record is never indexed); and
    /// how many sealed blocks they needed decoded (not in the block cache,
    /// or only the start of them).
    ///
    /// Each sealed block is read once for all the hits it holds. The hits
    /// are read on the calling thread when at most one block needs decoding
    /// (records in a WAL or in cached blocks are cheaper to read where they
    /// are wanted than to hand to other threads, whose answer, on busy
    /// cores, waited on the scheduler for longer than the reads took), and
    /// on the read pool, a block per task, when more do.
    pub(super) fn read_hits(&self, query: &Query, keys: &[Key]) -> Result<(Vec<Hit>, usize)> {
        let runs = self.read_runs(keys.iter().map(|&(_, seq)| seq))?;
        let decoded = runs.iter().filter(|run| self.decodes(run)).count();
        let read = |run: &ReadRun| -> Result<Vec<(usize, Option<Hit>)>> {
            self.read_run(run)?
                .into_iter()
                .map(|(at, record)| Ok((at, self.check_hit(query, keys[at], record)?)))
                .collect()
        };
        let read: Vec<Vec<_>> = if decoded >= 2 {
            pools::install(pools::reads(), || {
                runs.par_iter().map(read).collect::<Result<_>>()
            })
        } else {
            runs.iter().map(read).collect()
        }?;
        let mut placed: Vec<(usize, Option<Hit>)> = read.into_iter().flatten().collect();
        placed.sort_unstable_by_key(|&(at, _)| at);
        Ok((
            placed.into_iter().filter_map(|(_, hit)| hit).collect(),
            decoded,
        ))
    }

    /// `record`, read at `key`, as a hit once checked against the query;
    /// `None` when it was erased.
    fn check_hit(&self, query: &Query, (time, seq): Key, record: Record) -> Result<Option<Hit>> {
        if matches!(record.body, RecordBody::Redacted(_)) {
            return Ok(None);
        }
        let event = record
            .event()
            .map_err(|reason| Error::corrupted(&self.dir, seq, reason))?;
        let stored_time = event
            .as_ref()
            .and_then(|e| e.time)
            .unwrap_or(record.ingest_time);
        if stored_time != time || !matcher::matches(query, stored_time, event.as_ref()) {
            return Err(self.index_error(format!(
                "the index returned seq {seq}, whose stored record does not match the query; rebuild the index"
            )));
        }
        Ok(Some(Hit { record, event }))
    }
}

fn check_top(top: usize) -> Result<()> {
    if (1..=crate::query::MAX_LIMIT).contains(&top) {
        Ok(())
    } else {
        Err(Error::query(
            "top",
            format!(
                "{top} is not between 1 and {} (default {DEFAULT_TOP})",
                crate::query::MAX_LIMIT
            ),
        ))
    }
}

/// The `top` most frequent values, most frequent first, ties by value.
fn top_values(counts: &Counts, top: usize) -> Vec<(String, u64)> {
    let most_first =
        |a: &(&String, &u64), b: &(&String, &u64)| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0));
    let mut values: Vec<(&String, &u64)> = counts.by_value.iter().collect();
    if values.len() > top {
        values.select_nth_unstable_by(top, most_first);
        values.truncate(top);
    }
    values.sort_unstable_by(most_first);
    values.into_iter().map(|(v, n)| (v.clone(), *n)).collect()
}
