//! Verification: `Log::verify` over 400,000 events in four sealed segments
//! (every block's CRC, decompression, body digest, leaf and chain hash, and
//! the signed checkpoints), from a warm page cache. Throughput is in stored
//! body bytes, as `VerifyReport::body_bytes` counts them.

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use stele_benches::{Generator, TempLog};

/// Events in the log.
const EVENTS: usize = 400_000;
/// Events per sealed segment.
const PER_SEGMENT: usize = 100_000;

fn verify(c: &mut Criterion) {
    let events = Generator::new(4).events(EVENTS);
    let temp = TempLog::sealed(&events, PER_SEGMENT).expect("sealed log");
    drop(events);
    let key = temp.store.public_key();
    let report = temp.log.verify(0..u64::MAX, &key).expect("verify");
    assert!(report.is_ok(), "{:?}", report.failure);
    let mut group = c.benchmark_group("verify");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(report.body_bytes));
    group.bench_function("sealed_400k", |b| {
        b.iter(|| {
            let report = temp.log.verify(0..u64::MAX, &key).expect("verify");
            assert!(report.is_ok());
            report
        });
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
