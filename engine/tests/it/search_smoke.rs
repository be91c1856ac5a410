//! Search end to end on a small log: filters, text, both orders, a cursor,
//! counts and a histogram, across sealed and active segments.

use crate::common;

use common::{events, small_policy};
use std::path::Path;
use std::sync::Arc;
use stele_engine::query::{Aggregated, Aggregation, ExactField};

use stele_engine::{Cancel, Error, Event, FsyncPolicy, Log, Order, Query, Store};

/// A store in `dir` with a log `audit` that seals every `max_records`.
fn audit_log(dir: &Path, max_records: u64) -> (Store, Arc<Log>) {
    let store = Store::open(dir).unwrap();
    let log = store
        .create_log("audit", small_policy(FsyncPolicy::Never, max_records))
        .unwrap();
    (store, log)
}

/// [`audit_log`] sealing every 300 records, holding `events` (appended 100
/// at a time), every segment sealed and everything indexed.
fn indexed_log(dir: &Path, events: &[Event]) -> (Store, Arc<Log>) {
    let (store, log) = audit_log(dir, 300);
    for chunk in events.chunks(100) {
        log.append(chunk).unwrap();
    }
    log.finish_seals().unwrap();
    log.flush_index().unwrap();
    (store, log)
}

#[test]
fn finds_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = indexed_log(dir.path(), &events(0, 1000));
    let all = log
        .search(&Query {
            limit: 10_000,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(all.hits.len(), 1000);
    let times: Vec<(i64, u64)> = all
        .hits
        .iter()
        .map(|h| (h.event.as_ref().unwrap().time.unwrap(), h.record.seq))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    let q = Query::default()
        .filter(ExactField::ActorId, &["user-3"])
        .filter(ExactField::Action, &["git.*"]);
    let page = log.search(&q).unwrap();
    assert!(!page.hits.is_empty());
    for hit in &page.hits {
        let e = hit.event.as_ref().unwrap();
        assert_eq!(e.actor.id, "user-3");
        assert_eq!(e.action, "git.push");
    }
    assert_eq!(log.count(&q).unwrap(), page.hits.len() as u64);

    let text = Query {
        text: "thing 17".into(),
        ..Query::default()
    };
    let page = log.search(&text).unwrap();
    assert_eq!(
        page.hits.len(),
        1,
        "{:?}",
        page.hits.iter().map(|h| h.record.seq).collect::<Vec<_>>()
    );
    assert_eq!(page.hits[0].record.seq, 17);

    let mut q = Query {
        limit: 7,
        order: Order::OldestFirst,
        ..Query::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = log.search(&q).unwrap();
        seen.extend(page.hits.iter().map(|h| h.record.seq));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<u64> = times.iter().rev().map(|t| t.1).collect();
    assert_eq!(seen, expected);

    let terms = log
        .count_by(&Query::default(), ExactField::Action, 2)
        .unwrap();
    assert_eq!(terms.total, 1000);
    assert_eq!(
        terms.top,
        vec![
            ("git.push".to_string(), 250),
            ("repo.create".to_string(), 250)
        ]
    );
    assert_eq!(terms.other, 500);
    let h = log
        .histogram(
            &Query::default(),
            100_000_000_000,
            Some((ExactField::Outcome, 3)),
        )
        .unwrap();
    assert_eq!(h.total, 1000);
    assert_eq!(h.buckets.iter().map(|b| b.count).sum::<u64>(), 1000);
    let empty = Query {
        from: Some(1_790_000_000_500_000_000),
        to: Some(1_790_000_000_500_000_000),
        ..Query::default()
    };
    assert!(
        log.histogram(&empty, 1_000_000_000, None)
            .unwrap()
            .buckets
            .is_empty()
    );
    drop(log);
    store.close().unwrap();
}

#[test]
fn an_aggregation_answers_as_the_direct_calls_and_stops_once_called_off() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = indexed_log(dir.path(), &events(0, 1000));
    let q = Query::default();
    let by_action = Aggregation::CountBy {
        field: ExactField::Action,
        top: 3,
    };
    let by_hour = Aggregation::Histogram {
        interval_ns: 3_600_000_000_000,
        split: Some((ExactField::Outcome, 2)),
    };
    let going = Cancel::default();
    assert_eq!(
        log.aggregate(&q, by_action, &going).unwrap(),
        Aggregated::Terms(log.count_by(&q, ExactField::Action, 3).unwrap())
    );
    assert_eq!(
        log.aggregate(&q, by_hour, &going).unwrap(),
        Aggregated::Histogram(
            log.histogram(&q, 3_600_000_000_000, Some((ExactField::Outcome, 2)))
                .unwrap()
        )
    );
    assert!(matches!(
        log.aggregate(&q, Aggregation::Count, &going).unwrap(),
        Aggregated::Count { count: 1000, .. }
    ));

    let called_off = Cancel::default();
    drop(called_off.on_drop());
    for what in [Aggregation::Count, by_action, by_hour] {
        assert!(matches!(
            log.aggregate(&q, what, &called_off),
            Err(Error::Cancelled)
        ));
    }
    drop(log);
    store.close().unwrap();
}

/// Every row of the full-text table in docs/query.md.
#[test]
fn the_documented_text_syntax_works() {
    use stele_engine::Event;
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = audit_log(dir.path(), 1000);
    let event = |message: &str, details: serde_json::Value| Event {
        action: "workflow.delete".into(),
        actor: stele_engine::Actor {
            id: "alice".into(),
            ..Default::default()
        },
        message: message.into(),
        details: details.as_object().cloned(),
        ..Event::default()
    };
    log.append(&[
        event(
            "Alice deleted workflow 42",
            serde_json::json!({"branch": "main", "commits": 3}),
        ),
        event(
            "bob removed workflow 7",
            serde_json::json!({"branch": "draft-x", "commits": 12}),
        ),
        event(
            "carol deleted draft workflow",
            serde_json::json!({"repo": "acme/api"}),
        ),
    ])
    .unwrap();
    log.flush_index().unwrap();
    let seqs = |text: &str| -> Vec<u64> {
        let mut s: Vec<u64> = log
            .search(&Query {
                text: text.into(),
                ..Query::default()
            })
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .hits
            .iter()
            .map(|h| h.record.seq)
            .collect();
        s.sort();
        s
    };
    assert_eq!(seqs("deleted"), [0, 2]);
    assert_eq!(seqs("ALICE deleted"), [0]);
    assert_eq!(seqs("deleted workflow"), [0, 2]);
    assert_eq!(seqs("deleted OR removed"), [0, 1, 2]);
    assert_eq!(seqs("deleted -draft"), [0]);
    assert_eq!(seqs("\"deleted workflow 42\""), [0]);
    assert_eq!(seqs("\"workflow deleted\""), Vec::<u64>::new());
    assert_eq!(seqs("message:draft"), [2]);
    assert_eq!(
        seqs("draft"),
        [1, 2],
        "bare words also search details strings"
    );
    assert_eq!(seqs("details.branch:main"), [0]);
    assert_eq!(seqs("details.commits:3"), [0]);
    assert_eq!(seqs("(alice OR bob) AND workflow"), [0, 1]);
    assert_eq!(seqs("acme"), [2]);
    assert_eq!(seqs("\"acme api\""), [2]);
    assert_eq!(seqs("main^2 deleted"), [0], "boosts are ignored");
}

/// Bare words find every string of `details`, at any depth and inside
/// arrays, but not keys, numbers or booleans; a bare phrase matches within
/// one string only; what bare words cannot do is refused, naming the fix.
#[test]
fn bare_words_search_every_string_of_details() {
    use stele_engine::Event;
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = audit_log(dir.path(), 1000);
    let event = |details: serde_json::Value| Event {
        action: "repo.update".into(),
        details: details.as_object().cloned(),
        ..Event::default()
    };
    log.append(&[
        event(serde_json::json!({
            "request": {"client": {"app": "Terraform Cloud", "build": 42}},
            "target": [{"type": "team", "id": "3f2a9c1e-7b4d-4e21-9a0c-5d8e7f6a1b2c"},
                       {"type": "user", "id": "9b1d0e4f"}],
            "mfa": true,
        })),
        event(serde_json::json!({
            "comment": "rotated the deploy key",
            "labels": {"env": "prod", "team": "platform"},
            "tags": ["rotated the", "key"],
        })),
        event(serde_json::json!({"terraform": {"cloud": "yes"}, "count": 7})),
    ])
    .unwrap();
    log.flush_index().unwrap();
    let search = |text: &str| {
        log.search(&Query {
            text: text.into(),
            ..Query::default()
        })
        .map(|page| {
            let mut s: Vec<u64> = page.hits.iter().map(|h| h.record.seq).collect();
            s.sort();
            s
        })
    };
    let seqs = |text: &str| search(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(seqs("terraform"), [0], "nested strings, not keys");
    assert_eq!(seqs("\"terraform cloud\""), [0]);
    assert_eq!(seqs("9b1d0e4f"), [0], "strings inside arrays of objects");
    assert_eq!(seqs("\"7b4d 4e21\""), [0], "hex groups of an id");
    assert_eq!(seqs("user team"), [0], "two strings of one array");
    assert_eq!(seqs("42"), Vec::<u64>::new(), "numbers are not text");
    assert_eq!(seqs("true"), Vec::<u64>::new(), "booleans are not text");
    assert_eq!(seqs("prod platform"), [1]);
    assert_eq!(seqs("\"rotated the deploy key\""), [1]);
    assert_eq!(
        seqs("\"the key\""),
        Vec::<u64>::new(),
        "a phrase does not span two strings of an array"
    );
    assert_eq!(seqs("\"prod platform\""), Vec::<u64>::new());
    assert_eq!(seqs("yes -terraform"), [2]);
    assert_eq!(seqs("details.terraform.cloud:yes"), [2]);
    for (text, what) in [
        ("\"deploy key\"~2", "a phrase with slop"),
        ("\"deploy ke\"*", "a phrase prefix"),
        ("[a TO c]", "a range"),
        ("IN [deploy key]", "a set"),
    ] {
        let err = search(text).unwrap_err().to_string();
        assert!(
            err.contains(what) && err.contains("must name a field"),
            "{text}: {err}"
        );
    }
    assert_eq!(seqs("message:\"deploy key\"~2"), Vec::<u64>::new());
    assert_eq!(seqs("details.comment:\"deploy key\"~2"), [1]);
}

/// Segments outside the range are not searched, and a newest-first page
/// stops at the first segment that fills it, even with overlapping bounds.
#[test]
fn pruning_and_early_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = audit_log(dir.path(), 100);
    const HOUR: i64 = 3_600_000_000_000;
    // Ten segments of 100 events; segment k spans hours [k, k+2), so
    // neighbours overlap.
    for k in 0..10i64 {
        let batch: Vec<_> = (0..100i64)
            .map(|i| {
                let mut e = common::event((k * 100 + i) as u64);
                e.time = Some(k * HOUR + i * (2 * HOUR / 100));
                e
            })
            .collect();
        log.append(&batch).unwrap();
    }
    log.finish_seals().unwrap();
    log.flush_index().unwrap();
    assert_eq!(
        log.segments().len(),
        11,
        "ten sealed and an empty active one"
    );

    let narrow = Query {
        from: Some(HOUR / 2),
        to: Some(HOUR * 3 / 4),
        limit: 1000,
        ..Query::default()
    };
    let page = log.search(&narrow).unwrap();
    assert_eq!(page.stats.segments_searched, 1);
    assert!(page.hits.iter().all(|h| h.record.seq < 100));

    let newest = log
        .search(&Query {
            limit: 10,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(newest.stats.segments_searched, 1, "{:?}", newest.stats);
    assert_eq!(newest.hits.first().unwrap().record.seq, 999);

    // 150 newest need the newest segment and, because bounds overlap, the
    // one before it; no more.
    let deeper = log
        .search(&Query {
            limit: 150,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(deeper.stats.segments_searched, 2, "{:?}", deeper.stats);
    let oldest = log
        .search(&Query {
            limit: 10,
            order: Order::OldestFirst,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(oldest.stats.segments_searched, 1);
    assert_eq!(oldest.hits[0].record.seq, 0);
}

/// Each commit of the active segment's index adds a tantivy segment;
/// sealing merges them into one.
#[test]
fn sealing_merges_the_index_into_one_tantivy_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = audit_log(dir.path(), 10_000);
    let ix = common::log_dir(dir.path(), "audit").join(format!("index/{:020}", 0));
    let postings = || {
        std::fs::read_dir(&ix)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "idx")
            })
            .count()
    };
    for chunk in events(0, 500).chunks(100) {
        log.append(chunk).unwrap();
        log.flush_index().unwrap();
    }
    assert!(
        postings() > 1,
        "{} tantivy segments before the seal",
        postings()
    );
    log.seal().unwrap();
    assert_eq!(postings(), 1);
    assert_eq!(log.count(&Query::default()).unwrap(), 500);
}

#[test]
fn index_space_accounts_for_every_document_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = indexed_log(dir.path(), &events(0, 1000));
    let space = log.index_space().unwrap();
    assert_eq!(space.docs, 1000);
    for field in ["actor_id", "action", "message", "seq", "time"] {
        assert!(space.fields[field].total() > 0, "{field}: {space:?}");
    }
    // Exact fields are terms and columns; only full-text fields keep
    // positions.
    assert!(space.fields["actor_id"].fast > 0);
    assert_eq!(space.fields["actor_id"].positions, 0);
    assert!(space.fields["message"].positions > 0);
    // Every byte counted lies in the index directory, and most of it is
    // counted.
    let on_disk = dir_bytes(&log.dir().join("index"));
    assert!(space.total() <= on_disk, "{} > {on_disk}", space.total());
    assert!(
        space.total() * 2 > on_disk,
        "{} of {on_disk}",
        space.total()
    );
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dir_bytes(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

/// `request_id` and `correlation_id` keep no fast column; counting by them
/// reads their postings and must answer as counting by any other field.
#[test]
fn counts_by_fields_without_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut batch = events(0, 1000);
    for (i, e) in (0u64..).zip(&mut batch) {
        if i % 10 != 0 {
            e.request_id = format!("req-{}", i % 7);
            e.correlation_id = format!("corr-{:02}", i % 13);
        }
    }
    let (_store, log) = indexed_log(dir.path(), &batch);
    let q = Query::default().filter(ExactField::Action, &["git.push"]);
    type ValueOf = fn(&Event) -> &str;
    let fields: [(ExactField, ValueOf); 2] = [
        (ExactField::RequestId, |e| &e.request_id),
        (ExactField::CorrelationId, |e| &e.correlation_id),
    ];
    for (field, value) in fields {
        let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
        let mut missing = 0;
        for e in batch.iter().filter(|e| e.action == "git.push") {
            match value(e) {
                "" => missing += 1,
                v => *expected.entry(v.to_string()).or_default() += 1,
            }
        }
        let terms = log.count_by(&q, field, 100).unwrap();
        let got: std::collections::BTreeMap<String, u64> = terms.top.iter().cloned().collect();
        assert_eq!(got, expected, "{field}");
        assert_eq!((terms.missing, terms.other), (missing, 0), "{field}");
        assert_eq!(terms.total, 250, "{field}");
        let split = log
            .histogram(&q, 3_600_000_000_000, Some((field, 3)))
            .unwrap();
        assert_eq!(split.total, 250);
        let mut top: Vec<(&String, &u64)> = expected.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let want: Vec<String> = top.iter().take(3).map(|(v, _)| (*v).clone()).collect();
        assert_eq!(split.split_values, want, "{field}");
    }
}

/// `actor.ip` keeps any source a system names, and a network filter finds
/// the addresses inside it however they are written.
#[test]
fn source_addresses_and_networks() {
    use stele_engine::{Event, ExactField};
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = audit_log(dir.path(), 1000);
    let sources = [
        "10.1.2.3",
        "::ffff:10.9.9.9",
        "11.0.0.1",
        "AWS Internal",
        "secretsmanager.amazonaws.com",
        "2001:db8::7",
    ];
    let events: Vec<Event> = sources
        .iter()
        .map(|ip| Event {
            action: "kms.decrypt".into(),
            actor: stele_engine::Actor {
                id: "svc".into(),
                ip: (*ip).into(),
                ..Default::default()
            },
            ..Event::default()
        })
        .collect();
    log.append(&events).unwrap();
    log.flush_index().unwrap();
    let seqs = |values: &[&str]| -> Vec<u64> {
        let query = Query::default().filter(ExactField::ActorIp, values);
        let mut s: Vec<u64> = log
            .search(&query)
            .unwrap()
            .hits
            .iter()
            .map(|h| h.record.seq)
            .collect();
        s.sort();
        assert_eq!(log.count(&query).unwrap(), s.len() as u64);
        s
    };
    assert_eq!(seqs(&["10.0.0.0/8"]), [0, 1]);
    assert_eq!(seqs(&["10.1.0.0/16", "2001:db8::/32"]), [0, 5]);
    assert_eq!(seqs(&["AWS Internal"]), [3]);
    assert_eq!(seqs(&["secretsmanager.*"]), [4]);
    assert_eq!(seqs(&["0.0.0.0/0"]), [0, 1, 2]);
    let err = log
        .search(&Query::default().filter(ExactField::ActorIp, &["10.0.0.0/33"]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("filter actor.ip") && err.contains("not a network"),
        "{err}"
    );
}
