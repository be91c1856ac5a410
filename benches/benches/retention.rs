//! Retention work on sealed segments, each on a fresh log loaded before the
//! clock starts:
//! - `compact/20x5k`: `Log::compact` merging 20 sealed segments of 5,000
//!   events into one (read, recompress, write, fsync, rename; build and merge
//!   the new tantivy index; swap);
//! - `erase/actor_100k`: `Log::erase` of every event of one actor (about 1 in
//!   40) over 100,000 events in 4 segments (search, confirm, rewrite each
//!   segment, rebuild its index);
//! - `archive/local_50k`: `Log::archive_segment` of one 50,000-event segment
//!   to a local directory (read, SHA-256, upload file, index and entry, read
//!   back and compare).

use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use stele_benches::{Generator, TempLog};
use stele_engine::{
    ArchiveTarget, CompactOptions, EraseOptions, ExactField, Filter, ObjectArchive, Query,
};

fn retention(c: &mut Criterion) {
    let events = Generator::new(6).events(100_000);
    let mut group = c.benchmark_group("retention");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(events.len() as u64));

    let merge_all = CompactOptions {
        small_bytes: Some(u64::MAX),
        target_bytes: Some(u64::MAX),
        dry_run: false,
    };
    group.bench_function("compact/20x5k", |b| {
        b.iter_batched(
            || TempLog::sealed(&events, 5_000).expect("log"),
            |temp| {
                let report = temp.log.compact(&merge_all, &mut |_| {}).expect("compact");
                assert_eq!(report.merged.len(), 1);
                temp
            },
            BatchSize::PerIteration,
        );
    });

    let actor = events[0].actor.id.clone();
    let query = Query {
        filters: vec![Filter {
            field: ExactField::ActorId,
            values: vec![actor],
        }],
        ..Query::default()
    };
    let options = EraseOptions {
        dry_run: false,
        reason: "benchmark".into(),
        requested_by: "bench".into(),
    };
    group.bench_function("erase/actor_100k", |b| {
        b.iter_batched(
            || TempLog::sealed(&events, 25_000).expect("log"),
            |temp| {
                let report = temp
                    .log
                    .erase(&query, &options, &mut |_| {})
                    .expect("erase");
                assert!(!report.seqs.is_empty());
                temp
            },
            BatchSize::PerIteration,
        );
    });

    let half = &events[..50_000];
    group.throughput(Throughput::Elements(half.len() as u64));
    let temp = TempLog::sealed(half, half.len()).expect("log");
    let dir = tempfile::tempdir().expect("archive directory");
    let archive = ObjectArchive::open(&ArchiveTarget::Local {
        path: dir.path().to_path_buf(),
    })
    .expect("archive")
    .expect("a target");
    group.bench_function("archive/local_50k", |b| {
        b.iter(|| temp.log.archive_segment(&archive, 0).expect("archive"));
    });
    group.finish();
}

criterion_group!(benches, retention);
criterion_main!(benches);
