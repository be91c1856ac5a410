//! Reading: a sequential forward scan over 400,000 events in four sealed
//! segments (each block decompressed, its chain re-checked, records copied
//! out), as records and decoded into events, from a warm page cache; and a
//! search's page of 100 hits scattered over them, each in a block not in
//! the block cache (what a selective query over a large log pays): blocks
//! this process checked against the chain before (`page_of_100_cold`, a
//! running server's usual case), and blocks read for the first time since
//! the store opened (`page_of_100_first_read`, each chain walked).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use stele_benches::{Generator, TempLog};
use stele_engine::{Direction, StoreOptions};

/// Events in the log.
const EVENTS: usize = 400_000;
/// Events per sealed segment.
const PER_SEGMENT: usize = 100_000;
/// Hits in a page.
const PAGE: usize = 100;

fn read(c: &mut Criterion) {
    let events = Generator::new(3).events(EVENTS);
    let temp = TempLog::sealed(&events, PER_SEGMENT).expect("sealed log");
    drop(events);
    let log = &temp.log;
    let mut group = c.benchmark_group("read");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(12))
        .throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("scan_forward", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for record in log.scan(.., Direction::Forward) {
                bytes += record.expect("record").view().body_len();
            }
            black_box(bytes)
        });
    });
    group.bench_function("scan_forward_decode", |b| {
        b.iter(|| {
            let mut seen = 0;
            for record in log.scan(.., Direction::Forward) {
                let event = record.expect("record").event().expect("decodes");
                seen += usize::from(event.is_some());
            }
            black_box(seen)
        });
    });
    group.finish();
}

fn fetch_cold(c: &mut Criterion) {
    let events = Generator::new(3).events(EVENTS);
    let uncached = StoreOptions {
        block_cache_bytes: 0,
        ..StoreOptions::default()
    };
    let temp = TempLog::sealed_with(&events, PER_SEGMENT, uncached.clone()).expect("sealed log");
    drop(events);
    let log = &temp.log;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let pages: Vec<Vec<u64>> = (0..64)
        .map(|_| (0..PAGE).map(|_| rng.gen_range(0..EVENTS as u64)).collect())
        .collect();
    let mut group = c.benchmark_group("read");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(PAGE as u64));
    let mut next = 0;
    group.bench_function("page_of_100_cold", |b| {
        b.iter(|| {
            next = (next + 1) % pages.len();
            let mut bytes = 0;
            for &seq in &pages[next] {
                bytes += log.read(seq).expect("record").view().body_len();
            }
            black_box(bytes)
        });
    });
    let mut temp = Some(temp);
    let mut next = 0;
    group.sample_size(10);
    group.bench_function("page_of_100_first_read", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let reopened = temp
                    .take()
                    .expect("the log is put back after each page")
                    .reopen(uncached.clone())
                    .expect("reopen");
                next = (next + 1) % pages.len();
                let started = Instant::now();
                let mut bytes = 0;
                for &seq in &pages[next] {
                    bytes += reopened.log.read(seq).expect("record").view().body_len();
                }
                took += started.elapsed();
                black_box(bytes);
                temp = Some(reopened);
            }
            took
        });
    });
    group.finish();
}

criterion_group!(benches, read, fetch_cold);
criterion_main!(benches);
