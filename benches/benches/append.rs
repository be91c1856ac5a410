//! Append throughput in events/s: batches of 1, 10 and 1000 under fsync
//! `never` and `always`, 2 threads appending batches of 1000 under `never`,
//! and 2 and 4 threads under `always` (group commit: concurrent appenders
//! share one fdatasync). Each log has the default policy otherwise, so a
//! segment that fills up (128 MiB of WAL) is rotated out and sealed by the
//! store's maintenance thread while the appends go on, competing for the
//! same cores; the `*_no_seal` variants turn size-based sealing off to time
//! the WAL path alone.
//!
//! `append_rich` times scrubbing's cost (docs/scrubbing.md): rich-profile
//! events in batches of 1000 with no rule and with every built-in rule,
//! under fsync `never` without sealing (where appending is cheapest, so
//! scrubbing's share is largest) and under `always`, and the scrubber
//! alone on the same batches.
//!
//! Batches are copied from a pool of generated events before the clock
//! starts; only `Log::append` calls are timed.

use std::time::{Duration, Instant};

use std::hint::black_box;

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use stele_benches::fixture::{manual_seal, policy};
use stele_benches::{Generator, Profile, TempLog};
use stele_engine::event::scrub::{ScrubPolicy, Scrubber};
use stele_engine::{Event, FsyncPolicy, Log, Policy};

/// Distinct generated events that batches are copied from.
const POOL: usize = 50_000;
/// Events copied ahead of each timed run, bounding memory.
const CHUNK_EVENTS: usize = 20_000;

/// Copies the next `batch` events of `pool`, wrapping around.
fn next_batch(pool: &[Event], batch: usize, cursor: &mut usize) -> Vec<Event> {
    (0..batch)
        .map(|_| {
            *cursor = (*cursor + 1) % pool.len();
            pool[*cursor].clone()
        })
        .collect()
}

/// Time taken by `threads` threads each appending `iters` batches of `batch`.
fn timed_appends(
    log: &Log,
    pool: &[Event],
    batch: usize,
    threads: usize,
    iters: u64,
    cursor: &mut usize,
) -> Duration {
    let per_chunk = (CHUNK_EVENTS / (batch * threads)).max(1) as u64;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(per_chunk);
        let inputs: Vec<Vec<Vec<Event>>> = (0..threads)
            .map(|_| (0..n).map(|_| next_batch(pool, batch, cursor)).collect())
            .collect();
        let start = Instant::now();
        if threads == 1 {
            for events in inputs.iter().flatten() {
                log.append(events).expect("append");
            }
        } else {
            std::thread::scope(|s| {
                for batches in &inputs {
                    s.spawn(move || {
                        for events in batches {
                            log.append(events).expect("append");
                        }
                    });
                }
            });
        }
        total += start.elapsed();
        // The caller's events are freed outside the timed region: they are
        // the client's, not the log's work.
        drop(inputs);
        left -= n;
    }
    total
}

fn bench_one(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    pool: &[Event],
    name: &str,
    policy: Policy,
    batch: usize,
    threads: usize,
) {
    let temp = TempLog::new(policy).expect("create log");
    let mut cursor = 0;
    c.throughput(Throughput::Elements((batch * threads) as u64));
    let id = if threads == 1 {
        BenchmarkId::new(name, batch)
    } else {
        BenchmarkId::new(name, format!("{threads}x{batch}"))
    };
    c.bench_function(id, |b| {
        b.iter_custom(|iters| timed_appends(&temp.log, pool, batch, threads, iters, &mut cursor));
    });
}

fn append(c: &mut Criterion) {
    let pool = Generator::new(1).events(POOL);
    let mut group = c.benchmark_group("append");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    let never = policy(FsyncPolicy::Never);
    let always = policy(FsyncPolicy::Always);
    for batch in [1, 10, 1000] {
        bench_one(&mut group, &pool, "never", never.clone(), batch, 1);
    }
    bench_one(&mut group, &pool, "never", never.clone(), 1000, 2);
    for batch in [1, 10, 1000] {
        let no_seal = manual_seal(never.clone());
        bench_one(&mut group, &pool, "never_no_seal", no_seal, batch, 1);
    }
    let no_seal = manual_seal(never.clone());
    bench_one(&mut group, &pool, "never_no_seal", no_seal, 1000, 2);

    // One fdatasync per event: keep it short.
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    bench_one(&mut group, &pool, "always", always.clone(), 1, 1);
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    bench_one(&mut group, &pool, "always", always.clone(), 10, 1);
    for threads in [1, 2, 4] {
        bench_one(&mut group, &pool, "always", always.clone(), 1000, threads);
    }
    for threads in [1, 2, 4] {
        let no_seal = manual_seal(always.clone());
        bench_one(&mut group, &pool, "always_no_seal", no_seal, 1000, threads);
    }
    group.finish();
}

fn append_rich(c: &mut Criterion) {
    let pool = Generator::with_profile(1, Profile::Rich).events(POOL);
    let mut group = c.benchmark_group("append_rich");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    for (name, fsync) in [
        ("never_no_seal", FsyncPolicy::Never),
        ("always_no_seal", FsyncPolicy::Always),
    ] {
        let plain = manual_seal(policy(fsync));
        let mut scrubbed = plain.clone();
        scrubbed.scrub.builtin = vec!["all".into()];
        bench_one(
            &mut group,
            &pool,
            &format!("{name}/no_scrub"),
            plain,
            1000,
            1,
        );
        bench_one(
            &mut group,
            &pool,
            &format!("{name}/scrub_all"),
            scrubbed,
            1000,
            1,
        );
    }
    // The scrubber alone, on the same batches: its share of an append.
    let scrubber = Scrubber::new(&ScrubPolicy {
        builtin: vec!["all".into()],
        custom: Vec::new(),
    })
    .expect("the built-in rules compile");
    let mut cursor = 0;
    group.bench_function(BenchmarkId::new("scrubber_only", 1000), |b| {
        b.iter_batched(
            || next_batch(&pool, 1000, &mut cursor),
            |mut batch| {
                for event in &mut batch {
                    black_box(scrubber.apply(event));
                }
                batch
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, append, append_rich);
criterion_main!(benches);
