//! Writes the seed corpora under `fuzz/seeds/`: valid WAL files for
//! `wal_recovery`, valid sealed segments for `sealed_segment` and encoded
//! event bodies for `event_body`, all made with the engine's own writers, so
//! that the raw targets start past the magic numbers and checksums.
//!
//! Run with `cargo run --example gen_seeds` from `fuzz/`; it checks that each
//! seed reads back before writing it, and overwrites the previous seeds.

use std::fs;
use std::path::Path;

use stele_engine::event::{Actor, ActorKind, Event, Outcome, Resource, body};
use stele_engine::format::{SEG_MAGIC, SEG_VERSION, WAL_MAGIC, WAL_VERSION};
use stele_engine::segment::{SealOptions, SealedSegment, write_sealed};
use stele_engine::wal::scan_wal;
use stele_fuzz::build::{
    FuzzBody, FuzzHeader, FuzzRecord, build_wal, records_from, trained_dictionary,
};

fn main() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let events = sample_events();
    let bodies: Vec<Vec<u8>> = events.iter().map(body::encode).collect();

    let dir = seeds.join("event_body");
    fs::create_dir_all(&dir).expect("create seeds/event_body");
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(body::decode(b).as_ref(), Ok(&events[i]));
        fs::write(dir.join(format!("event-{i}")), b).expect("write an event seed");
    }

    let descs: Vec<FuzzRecord> = bodies
        .iter()
        .map(|b| FuzzBody::Raw(b.clone()))
        .chain([
            FuzzBody::Redacted([7; 32]),
            FuzzBody::Filler {
                byte: b'x',
                len: 300,
            },
        ])
        .enumerate()
        .map(|(i, body)| FuzzRecord {
            ingest_time: 1_700_000_000_000_000_000 + i as i64,
            body,
        })
        .collect();
    let at_genesis = FuzzHeader {
        log_id: 1,
        first_seq: 0,
        prev_chain_hash: 0,
    };
    let later = FuzzHeader {
        first_seq: 1000,
        prev_chain_hash: 9,
        ..at_genesis.clone()
    };

    let dir = seeds.join("wal_recovery");
    fs::create_dir_all(&dir).expect("create seeds/wal_recovery");
    let wal_cases: [(&str, &FuzzHeader, &[usize]); 4] = [
        ("empty", &at_genesis, &[]),
        ("one-record", &at_genesis, &[1]),
        ("three-frames", &at_genesis, &[2, 1, descs.len() - 3]),
        ("later-start", &later, &[descs.len()]),
    ];
    for (name, fuzz_header, sizes) in wal_cases {
        let header = fuzz_header.header(WAL_MAGIC, WAL_VERSION, descs.len());
        let mut batches = Vec::new();
        let mut taken = 0;
        for &n in sizes {
            batches.push(records_from(
                header.first_seq + taken as u64,
                &descs[taken..taken + n],
            ));
            taken += n;
        }
        let image = build_wal(&header, &batches);
        let scan = scan_wal(&image.bytes, Path::new(name)).expect("a built WAL scans");
        assert_eq!(scan.entries, image.entries);
        fs::write(dir.join(format!("{name}.wal")), &image.bytes).expect("write a WAL seed");
        if let Some(last) = image.frames.last() {
            let torn = &image.bytes[..last.end - 5];
            assert!(scan_wal(torn, Path::new(name)).unwrap().torn.is_some());
            fs::write(dir.join(format!("{name}-torn.wal")), torn).expect("write a WAL seed");
        }
    }

    let dir = seeds.join("sealed_segment");
    fs::create_dir_all(&dir).expect("create seeds/sealed_segment");
    let work = tempfile::tempdir().expect("temporary directory");
    let seg_cases: [(&str, &FuzzHeader, usize, usize, &[u8]); 4] = [
        ("empty", &at_genesis, 0, 4096, &[]),
        ("one-block", &at_genesis, descs.len(), 1 << 20, &[]),
        ("many-blocks", &later, descs.len(), 64, &[]),
        ("dictionary", &later, descs.len(), 64, trained_dictionary()),
    ];
    for (name, fuzz_header, count, block_bytes, dictionary) in seg_cases {
        let header = fuzz_header.header(SEG_MAGIC, SEG_VERSION, count);
        let records = records_from(header.first_seq, &descs[..count]);
        let path = work.path().join(format!("{name}.seg"));
        let options = SealOptions {
            block_bytes,
            zstd_level: 1,
            dictionary_bytes: dictionary.len(),
        };
        write_sealed(
            &path,
            &header,
            records.into_iter().map(Ok),
            &options,
            dictionary,
        )
        .expect("seal a seed segment");
        let segment = SealedSegment::open(&path).expect("a sealed seed opens");
        let read = segment
            .read(segment.first_seq(), segment.next_seq())
            .expect("a sealed seed reads");
        assert_eq!(read.len(), count);
        fs::write(dir.join(name), fs::read(&path).expect("read a sealed seed"))
            .expect("write a sealed seed");
    }
}

/// Events exercising every field kind of the body encoding.
fn sample_events() -> Vec<Event> {
    let full = Event {
        id: "0190b7d2-5c1e-7c3a-9f00-000000000001".into(),
        time: Some(1_700_000_000_123_456_789),
        tenant: "acme".into(),
        actor: Actor {
            id: "alice".into(),
            kind: Some(ActorKind::User),
            display_name: "Alice".into(),
            ip: "203.0.113.7".into(),
            user_agent: "git/2.45".into(),
            session_id: "s-1".into(),
        },
        action: "git.push".into(),
        resource: Resource {
            kind: "repository".into(),
            id: "acme/api".into(),
            name: "api".into(),
        },
        outcome: Some(Outcome::Denied),
        reason: "branch protected".into(),
        source: "forge".into(),
        correlation_id: "c-1".into(),
        request_id: "r-1".into(),
        duration_ms: Some(12),
        message: "alice pushed to main".into(),
        details: details(),
    };
    let minimal = Event {
        id: "e-2".into(),
        time: Some(-1),
        action: "workflow.delete".into(),
        ..Event::default()
    };
    let service = Event {
        id: "e-3".into(),
        time: Some(i64::MAX),
        actor: Actor {
            id: "ci".into(),
            kind: Some(ActorKind::Service),
            ..Actor::default()
        },
        action: "deploy.start".into(),
        outcome: Some(Outcome::Success),
        ..Event::default()
    };
    vec![full, minimal, service]
}

/// A details object with values of every JSON type.
fn details() -> Option<serde_json::Map<String, serde_json::Value>> {
    serde_json::json!({
        "branch": "main",
        "forced": false,
        "commits": [1, 2.5, -3],
        "parent": null,
        "nested": {"k": "v"}
    })
    .as_object()
    .cloned()
}
