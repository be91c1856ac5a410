//! Tantivy collectors over the fast columns: the top hits in (time, seq)
//! order, counts by an exact field (through [`Values`]), and date
//! histograms.
//!
//! Every collector takes `below_seq`: documents at or above it are ignored,
//! which pins a query (and all pages of it) to the snapshot it started from
//! while the active segment's index keeps growing. Counting is exact: every
//! matching document is visited, nothing is sampled.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::schema::{SEQ, TIME};
use super::values::Values;

/// A position in result order: event time, then seq.
pub type Key = (i64, u64);

/// A key as one number that grows in the wanted order, so that "keep the
/// `limit` largest ranks" serves both orders.
fn rank(key: Key, newest_first: bool) -> u128 {
    let time = (key.0 as u64) ^ (1 << 63);
    let r = (u128::from(time) << 64) | u128::from(key.1);
    if newest_first { r } else { !r }
}

fn unrank(rank: u128, newest_first: bool) -> Key {
    let r = if newest_first { rank } else { !rank };
    (((r >> 64) as u64 ^ (1 << 63)) as i64, r as u64)
}

/// The best `limit` keys in the wanted order that come strictly after
/// `after` (a cursor) and whose seqs lie in `from_seq..below_seq`.
#[derive(Debug, Clone, Copy)]
pub struct TopHits {
    /// Keys to keep.
    pub limit: usize,
    /// Order: descending (time, seq) when true.
    pub newest_first: bool,
    /// The cursor's last key; only keys strictly after it count.
    pub after: Option<Key>,
    /// Only seqs from this one count (0 for a search; a subscription's
    /// window starts higher).
    pub from_seq: u64,
    /// The snapshot: only seqs below it count.
    pub below_seq: u64,
}

impl TopHits {
    /// Whether `key` may be returned.
    fn admits(&self, key: Key) -> bool {
        (self.from_seq..self.below_seq).contains(&key.1)
            && self
                .after
                .is_none_or(|after| rank(key, self.newest_first) < rank(after, self.newest_first))
    }
}

/// The best ranks seen so far, the worst of them on top.
#[derive(Debug, Default)]
pub struct Best {
    limit: usize,
    heap: BinaryHeap<Reverse<u128>>,
}

impl Best {
    fn new(limit: usize) -> Best {
        Best {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    fn offer(&mut self, rank: u128) {
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(rank));
        } else if self.heap.peek().is_some_and(|worst| rank > worst.0) {
            self.heap.pop();
            self.heap.push(Reverse(rank));
        }
    }
}

/// Keeps the best `limit` keys across several offers (segments).
#[derive(Debug)]
pub struct TopKeys {
    best: Best,
    newest_first: bool,
}

impl TopKeys {
    /// An empty set keeping `limit` keys.
    pub fn new(limit: usize, newest_first: bool) -> TopKeys {
        TopKeys {
            best: Best::new(limit),
            newest_first,
        }
    }

    /// Offers keys.
    pub fn extend(&mut self, keys: impl IntoIterator<Item = Key>) {
        for key in keys {
            self.best.offer(rank(key, self.newest_first));
        }
    }

    /// Whether `limit` keys are held and none of them would give way to
    /// `key` (or anything ranked below it).
    pub fn full_against(&self, key: Key) -> bool {
        self.best.heap.len() == self.best.limit
            && self
                .best
                .heap
                .peek()
                .is_some_and(|worst| worst.0 > rank(key, self.newest_first))
    }

    /// The keys, best first.
    pub fn into_sorted(self) -> Vec<Key> {
        let mut ranks: Vec<u128> = self.best.heap.into_iter().map(|r| r.0).collect();
        ranks.sort_unstable_by(|a, b| b.cmp(a));
        ranks
            .into_iter()
            .map(|r| unrank(r, self.newest_first))
            .collect()
    }
}

impl Collector for TopHits {
    type Fruit = Vec<Key>;
    type Child = TopHitsSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        Ok(TopHitsSegment {
            spec: *self,
            columns: KeyColumns::of(reader)?,
            best: Best::new(self.limit),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Key>>) -> tantivy::Result<Vec<Key>> {
        let mut top = TopKeys::new(self.limit, self.newest_first);
        top.extend(fruits.into_iter().flatten());
        Ok(top.into_sorted())
    }
}

/// The time and seq columns of one tantivy segment.
struct KeyColumns {
    time: Column<i64>,
    seq: Column<u64>,
}

impl KeyColumns {
    fn of(reader: &SegmentReader) -> tantivy::Result<KeyColumns> {
        Ok(KeyColumns {
            time: reader.fast_fields().i64(TIME)?,
            seq: reader.fast_fields().u64(SEQ)?,
        })
    }

    fn key(&self, doc: DocId) -> Key {
        (
            self.time.first(doc).unwrap_or_default(),
            self.seq.first(doc).unwrap_or(u64::MAX),
        )
    }
}

/// [`TopHits`] on one tantivy segment.
pub struct TopHitsSegment {
    spec: TopHits,
    columns: KeyColumns,
    best: Best,
}

impl SegmentCollector for TopHitsSegment {
    type Fruit = Vec<Key>;

    fn collect(&mut self, doc: DocId, _: Score) {
        let key = self.columns.key(doc);
        if self.spec.admits(key) {
            self.best.offer(rank(key, self.spec.newest_first));
        }
    }

    fn harvest(self) -> Vec<Key> {
        let newest_first = self.spec.newest_first;
        self.best
            .heap
            .into_iter()
            .map(|r| unrank(r.0, newest_first))
            .collect()
    }
}

/// Counts of matching documents: in total, and per value of an exact field
/// (`counts`), with the documents that have no value (`missing`); per time
/// bucket when `interval` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Matching documents.
    pub total: u64,
    /// Matching documents without a value of the field.
    pub missing: u64,
    /// Per value.
    pub by_value: HashMap<String, u64>,
    /// Per bucket start (a multiple of the interval), then per value.
    pub by_bucket: HashMap<i64, (u64, HashMap<String, u64>)>,
}

impl Counts {
    /// Adds `other` in.
    pub fn merge(&mut self, other: Counts) {
        self.total += other.total;
        self.missing += other.missing;
        for (value, n) in other.by_value {
            *self.by_value.entry(value).or_default() += n;
        }
        for (bucket, (n, values)) in other.by_bucket {
            let entry = self.by_bucket.entry(bucket).or_default();
            entry.0 += n;
            for (value, m) in values {
                *entry.1.entry(value).or_default() += m;
            }
        }
    }
}

/// Counts matching documents below `below_seq`, per value of the column
/// `field` (a tantivy field name) when set, per bucket of `interval`
/// nanoseconds when set.
#[derive(Debug, Clone)]
pub struct Count {
    /// Tantivy name of the exact field to count values of.
    pub field: Option<&'static str>,
    /// Histogram bucket width in ns.
    pub interval: Option<i64>,
    /// The snapshot: only seqs below it count (`u64::MAX`: no check).
    pub below_seq: u64,
}

/// Most cells a segment's dense tallies may have (buckets, or buckets times
/// values); beyond it they are kept in hash maps.
const DENSE_CELLS: u64 = 1 << 20;

impl Collector for Count {
    type Fruit = Counts;
    type Child = CountSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let values = match self.field {
            Some(field) => Values::of(reader, field)?,
            None => None,
        };
        let terms = values.as_ref().map_or(0, |c| c.num_terms());
        let columns = KeyColumns::of(reader)?;
        let buckets = self.interval.map(|interval| {
            let first = columns.time.min_value().div_euclid(interval);
            let last = columns.time.max_value().div_euclid(interval);
            let n = (i128::from(last) - i128::from(first) + 1) as u64;
            let dense = n <= DENSE_CELLS;
            let dense_split = dense && values.is_some() && n * terms as u64 <= DENSE_CELLS;
            BucketTally {
                interval,
                first,
                counts: if dense {
                    Tally::Dense(vec![0; n as usize])
                } else {
                    Tally::Sparse(HashMap::new())
                },
                split: match values {
                    None => None,
                    Some(_) if dense_split => Some(Tally::Dense(vec![0; n as usize * terms])),
                    Some(_) => Some(Tally::Sparse(HashMap::new())),
                },
                terms: terms as u64,
            }
        });
        Ok(CountSegment {
            spec: self.clone(),
            columns,
            values,
            total: 0,
            missing: 0,
            per_ord: vec![0; terms],
            buckets,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counts>) -> tantivy::Result<Counts> {
        let mut all = Counts::default();
        for fruit in fruits {
            all.merge(fruit);
        }
        Ok(all)
    }
}

/// Counters addressed by a cell number: a vector when the cells are few,
/// a map when they are many.
enum Tally {
    Dense(Vec<u64>),
    Sparse(HashMap<u64, u64>),
}

impl Tally {
    fn add(&mut self, cell: u64) {
        match self {
            Tally::Dense(counts) => counts[cell as usize] += 1,
            Tally::Sparse(counts) => *counts.entry(cell).or_default() += 1,
        }
    }

    /// The cells with a count, with it.
    fn nonzero(&self) -> Vec<(u64, u64)> {
        match self {
            Tally::Dense(counts) => counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(cell, n)| (cell as u64, *n))
                .collect(),
            Tally::Sparse(counts) => counts.iter().map(|(c, n)| (*c, *n)).collect(),
        }
    }
}

/// Histogram counters of one tantivy segment: bucket `first + i` is cell
/// `i`; with a split, (bucket `i`, term `o`) is cell `i * terms + o`.
struct BucketTally {
    interval: i64,
    first: i64,
    counts: Tally,
    split: Option<Tally>,
    terms: u64,
}

/// [`Count`] on one tantivy segment: counts by term ordinal, turned into
/// strings at harvest.
pub struct CountSegment {
    spec: Count,
    columns: KeyColumns,
    values: Option<Values>,
    total: u64,
    missing: u64,
    per_ord: Vec<u64>,
    buckets: Option<BucketTally>,
}

impl SegmentCollector for CountSegment {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _: Score) {
        if self.spec.below_seq != u64::MAX
            && self.columns.seq.first(doc).unwrap_or(u64::MAX) >= self.spec.below_seq
        {
            return;
        }
        self.total += 1;
        let ord = self.values.as_ref().and_then(|v| v.ord(doc));
        match (&self.values, ord) {
            (Some(_), None) => self.missing += 1,
            (Some(_), Some(ord)) => self.per_ord[ord as usize] += 1,
            (None, _) => {}
        }
        if let Some(b) = &mut self.buckets {
            let time = self.columns.time.first(doc).unwrap_or_default();
            let cell = (time.div_euclid(b.interval) - b.first) as u64;
            b.counts.add(cell);
            if let (Some(split), Some(ord)) = (&mut b.split, ord) {
                split.add(cell * b.terms + ord);
            }
        }
    }

    fn harvest(self) -> Counts {
        let per_value: Vec<(u64, u64)> = self
            .per_ord
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(ord, n)| (ord as u64, *n))
            .collect();
        let ords: Vec<u64> = per_value.iter().map(|(ord, _)| *ord).collect();
        let names = self.names(&ords);
        let name_of = |ord: u64| -> String {
            ords.binary_search(&ord)
                .map(|i| names[i].clone())
                .unwrap_or_default()
        };
        let by_value = per_value
            .iter()
            .zip(&names)
            .map(|((_, n), name)| (name.clone(), *n))
            .collect();
        let mut by_bucket: HashMap<i64, (u64, HashMap<String, u64>)> = HashMap::new();
        if let Some(b) = &self.buckets {
            let start = |cell: u64| (b.first + cell as i64) * b.interval;
            for (cell, n) in b.counts.nonzero() {
                by_bucket.entry(start(cell)).or_default().0 += n;
            }
            for (cell, n) in b.split.as_ref().map(Tally::nonzero).unwrap_or_default() {
                let entry = by_bucket.entry(start(cell / b.terms)).or_default();
                *entry.1.entry(name_of(cell % b.terms)).or_default() += n;
            }
        }
        Counts {
            total: self.total,
            missing: self.missing,
            by_value,
            by_bucket,
        }
    }
}

impl CountSegment {
    /// The values of the sorted term ordinals `ords`.
    fn names(&self, ords: &[u64]) -> Vec<String> {
        match &self.values {
            Some(values) => values.names(ords),
            None => vec![String::new(); ords.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_order_keys_both_ways() {
        let keys = [
            (-5, 3),
            (-5, 4),
            (0, 0),
            (7, 1),
            (i64::MAX, 0),
            (i64::MIN, 9),
        ];
        for newest_first in [true, false] {
            for a in keys {
                assert_eq!(unrank(rank(a, newest_first), newest_first), a);
                for b in keys {
                    let ordered = if newest_first { a.cmp(&b) } else { b.cmp(&a) };
                    assert_eq!(rank(a, newest_first).cmp(&rank(b, newest_first)), ordered);
                }
            }
        }
    }

    #[test]
    fn top_keys_keep_the_best() {
        let mut top = TopKeys::new(2, true);
        top.extend([(1, 0), (5, 1), (3, 2), (5, 0)]);
        assert!(top.full_against((3, 9)));
        assert!(!top.full_against((5, 0)));
        assert!(!top.full_against((6, 0)));
        assert_eq!(top.into_sorted(), vec![(5, 1), (5, 0)]);
        let mut top = TopKeys::new(2, false);
        top.extend([(1, 0), (5, 1), (3, 2), (1, 1)]);
        assert_eq!(top.into_sorted(), vec![(1, 0), (1, 1)]);
    }
}
