//! Reading: a sequential forward scan over 400,000 events in four sealed
//! segments (each block decompressed, its chain re-checked, records copied
//! out), as records and decoded into events, from a warm page cache.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use stele_benches::{Generator, TempLog};
use stele_engine::Direction;

/// Events in the log.
const EVENTS: usize = 400_000;
/// Events per sealed segment.
const PER_SEGMENT: usize = 100_000;

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

criterion_group!(benches, read);
criterion_main!(benches);
