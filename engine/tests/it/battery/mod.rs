//! A fixed battery of reads, scans, receipts, searches (every page, both
//! orders, two page sizes) and aggregations over one log built from
//! `common::event`, recorded so that two runs can be compared: before and
//! after a compaction, an erasure, a crash, a reopen.

use std::collections::{BTreeMap, BTreeSet};

use stele_engine::{Direction, ExactField, Log, Order, Query, Receipt, Record, RecordBody};

/// The earliest event time `common::event` gives.
pub const BASE: i64 = 1_790_000_000_000_000_000;
/// One second in ns.
pub const SECOND: i64 = 1_000_000_000;
/// Histogram bucket width.
pub const INTERVAL: i64 = 60 * SECOND;

/// The queries, with names for failure messages.
pub fn queries() -> Vec<(&'static str, Query)> {
    let q = Query::default;
    vec![
        ("everything", q()),
        ("actor user-3", q().filter(ExactField::ActorId, &["user-3"])),
        (
            "actor user-3 or user-5",
            q().filter(ExactField::ActorId, &["user-3", "user-5"]),
        ),
        (
            "git.* that failed",
            q().filter(ExactField::Action, &["git.*"])
                .filter(ExactField::Outcome, &["failure"]),
        ),
        (
            "tenant-1 in a time range",
            Query {
                from: Some(BASE + 100 * SECOND),
                to: Some(BASE + 600 * SECOND),
                ..q().filter(ExactField::Tenant, &["tenant-1"])
            },
        ),
        (
            "text in a time range",
            Query {
                from: Some(BASE + 250 * SECOND),
                to: Some(BASE + 700 * SECOND),
                text: "thing".into(),
                ..q()
            },
        ),
        (
            "details path",
            Query {
                text: "details.nested.k:vvv".into(),
                ..q()
            },
        ),
        (
            "text or",
            Query {
                text: "14 OR 3".into(),
                ..q()
            },
        ),
        ("resource 14", q().filter(ExactField::ResourceId, &["14"])),
        (
            "time only",
            Query {
                from: Some(BASE),
                to: Some(BASE + 250 * SECOND),
                ..q()
            },
        ),
        (
            "tenant-0 with text",
            Query {
                text: "did".into(),
                ..q().filter(ExactField::Tenant, &["tenant-0"])
            },
        ),
    ]
}

/// Every page of hits of one walk through a query's results.
pub type Pages = Vec<Vec<Record>>;
/// A histogram bucket: start, count, and the count of each split value.
pub type SplitBucket = (i64, u64, Vec<u64>);

/// The answers to one query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAnswers {
    /// The query's name.
    pub name: &'static str,
    /// Every page of hits, per (order, page size).
    pub walks: Vec<((Order, usize), Pages)>,
    /// `count`.
    pub count: u64,
    /// `count_by(actor.id)` with every value: (values, missing, total).
    pub by_actor: (Vec<(String, u64)>, u64, u64),
    /// Non-empty buckets of `histogram(INTERVAL)`.
    pub histogram: Vec<(i64, u64)>,
    /// `histogram(INTERVAL)` split by tenant: split values, then every
    /// bucket with its split counts.
    pub split: (Vec<String>, Vec<SplitBucket>),
}

/// Everything the battery saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    /// Per query.
    pub queries: Vec<QueryAnswers>,
    /// Every visible record by seq, with its receipt.
    pub reads: Vec<(Record, Receipt)>,
    /// A forward scan of everything.
    pub forward: Vec<Record>,
    /// A backward scan of everything.
    pub backward: Vec<Record>,
}

/// Every page of `query` in `order`, `limit` hits a page.
pub fn walk(log: &Log, query: &Query, order: Order, limit: usize) -> Pages {
    let mut q = Query {
        order,
        limit,
        cursor: None,
        ..query.clone()
    };
    let mut pages = Vec::new();
    loop {
        let page = log
            .search(&q)
            .unwrap_or_else(|e| panic!("search {q:?}: {e}"));
        pages.push(page.hits.into_iter().map(|h| h.record).collect());
        match page.next_cursor {
            Some(cursor) => q.cursor = Some(cursor),
            None => return pages,
        }
    }
}

/// Runs the whole battery (the index flushed first).
pub fn run(log: &Log) -> Answers {
    log.flush_index().unwrap();
    let queries = queries()
        .into_iter()
        .map(|(name, query)| answer(log, name, &query))
        .collect();
    let visible = log.visible_seq();
    let reads = (log.first_seq()..visible)
        .map(|seq| log.read_with_receipt(seq).unwrap())
        .collect();
    let forward = log
        .scan(.., Direction::Forward)
        .collect::<Result<_, _>>()
        .unwrap();
    let backward = log
        .scan(.., Direction::Backward)
        .collect::<Result<_, _>>()
        .unwrap();
    Answers {
        queries,
        reads,
        forward,
        backward,
    }
}

/// The searches and aggregations of one query.
pub fn answer(log: &Log, name: &'static str, query: &Query) -> QueryAnswers {
    let mut walks = Vec::new();
    for order in [Order::OldestFirst, Order::NewestFirst] {
        for limit in [1000, 7] {
            walks.push(((order, limit), walk(log, query, order, limit)));
        }
    }
    let terms = log.count_by(query, ExactField::ActorId, 10_000).unwrap();
    assert_eq!(terms.other, 0, "{name}: every value listed");
    let histogram = log.histogram(query, INTERVAL, None).unwrap();
    let split = log
        .histogram(query, INTERVAL, Some((ExactField::Tenant, 3)))
        .unwrap();
    QueryAnswers {
        name,
        walks,
        count: log.count(query).unwrap(),
        by_actor: (terms.top, terms.missing, terms.total),
        histogram: histogram
            .buckets
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.start, b.count))
            .collect(),
        split: (
            split.split_values,
            split
                .buckets
                .into_iter()
                .map(|b| (b.start, b.count, b.split))
                .collect(),
        ),
    }
}

/// `record` with its body erased.
pub fn redacted(record: &Record) -> Record {
    Record {
        body: RecordBody::Redacted(record.body_digest()),
        ..record.clone()
    }
}

/// Checks that `after` is `before` with the records at `erased` erased:
/// searches and aggregations without them, reads and scans showing them
/// redacted with the same digests and receipts.
pub fn assert_erased(before: &Answers, after: &Answers, erased: &BTreeSet<u64>) {
    let is_erased = |r: &Record| erased.contains(&r.seq);
    let show = |r: &Record| if is_erased(r) { redacted(r) } else { r.clone() };
    assert_eq!(before.reads.len(), after.reads.len());
    for ((b, b_receipt), (a, a_receipt)) in before.reads.iter().zip(&after.reads) {
        assert_eq!(show(b), *a, "read of seq {}", b.seq);
        assert_eq!(b.body_digest(), a.body_digest(), "digest of seq {}", b.seq);
        assert_eq!(b_receipt, a_receipt, "receipt of seq {}", b.seq);
    }
    let shown: Vec<Record> = before.forward.iter().map(show).collect();
    assert_eq!(shown, after.forward, "forward scan");
    let shown: Vec<Record> = before.backward.iter().map(show).collect();
    assert_eq!(shown, after.backward, "backward scan");

    for (b, a) in before.queries.iter().zip(&after.queries) {
        let name = b.name;
        for ((key, b_pages), (_, a_pages)) in b.walks.iter().zip(&a.walks) {
            let expected: Vec<&Record> =
                b_pages.iter().flatten().filter(|r| !is_erased(r)).collect();
            let got: Vec<&Record> = a_pages.iter().flatten().collect();
            assert_eq!(expected, got, "{name} {key:?}");
            assert!(
                a_pages.iter().all(|p| p.len() <= key.1),
                "{name} {key:?}: page size"
            );
        }
        let gone: Vec<stele_engine::Event> = b.walks[0]
            .1
            .iter()
            .flatten()
            .filter(|r| is_erased(r))
            .map(|r| r.event().unwrap().unwrap())
            .collect();
        assert_eq!(a.count, b.count - gone.len() as u64, "{name}: count");

        let mut values: BTreeMap<String, u64> = b.by_actor.0.iter().cloned().collect();
        let mut missing = b.by_actor.1;
        for event in &gone {
            if event.actor.id.is_empty() {
                missing -= 1;
            } else {
                *values.get_mut(&event.actor.id).unwrap() -= 1;
            }
        }
        let mut values: Vec<(String, u64)> = values.into_iter().filter(|(_, n)| *n > 0).collect();
        values.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        let total = b.by_actor.2 - gone.len() as u64;
        assert_eq!(
            a.by_actor,
            (values, missing, total),
            "{name}: count by actor"
        );

        let mut buckets: BTreeMap<i64, u64> = b.histogram.iter().copied().collect();
        for event in &gone {
            let start = event.time.unwrap().div_euclid(INTERVAL) * INTERVAL;
            *buckets.get_mut(&start).unwrap() -= 1;
        }
        let buckets: Vec<(i64, u64)> = buckets.into_iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(a.histogram, buckets, "{name}: histogram");
    }
}
