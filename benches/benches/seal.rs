//! Sealing: turning an active segment of 100,000 appended events into a
//! compressed, read-only sealed file with `Log::seal` on the calling thread
//! (read the WAL back, compress the blocks with the policy's default
//! `SealOptions`, write, fsync, rename, open, delete the WAL, sign a
//! checkpoint).
//!
//! Each iteration gets a fresh log loaded before the clock starts; only
//! `Log::seal` is timed.

use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use stele_benches::fixture::{manual_seal, policy};
use stele_benches::{Generator, TempLog};
use stele_engine::FsyncPolicy;

/// Events in the sealed segment.
const EVENTS: usize = 100_000;

fn seal(c: &mut Criterion) {
    let events = Generator::new(2).events(EVENTS);
    let mut group = c.benchmark_group("seal");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("segment_100k", |b| {
        b.iter_batched(
            || {
                let temp = TempLog::new(manual_seal(policy(FsyncPolicy::Never))).expect("log");
                temp.append_all(&events, 1_000).expect("append");
                temp
            },
            |temp| {
                temp.log.seal().expect("seal").expect("a segment to seal");
                temp
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, seal);
criterion_main!(benches);
