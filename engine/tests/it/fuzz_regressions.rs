//! Inputs that fuzzing once found to crash or hang a decoder, kept under
//! `fuzz/regressions/<target>/`: each must now decode to a value or a clean
//! error, quickly, in every build of the test suite.

use std::path::{Path, PathBuf};

use stele_engine::segment::SealedSegment;
use stele_engine::wal::scan_wal;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn wal_inputs_scan_without_panicking() {
    for target in ["wal_recovery", "wal_checksummed"] {
        for path in inputs(target) {
            let bytes = std::fs::read(&path).unwrap();
            let started = std::time::Instant::now();
            let _ = scan_wal(&bytes, &path);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{} took {:?}",
                path.display(),
                started.elapsed()
            );
        }
    }
}

#[test]
fn sealed_inputs_open_and_read_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    for target in ["sealed_segment", "sealed_checksummed"] {
        for path in inputs(target) {
            let copy = dir.path().join("input.seg");
            std::fs::copy(&path, &copy).unwrap();
            if let Ok(segment) = SealedSegment::open(&copy) {
                for i in 0..segment.blocks().len() {
                    let _ = segment.read_block(i);
                }
            }
            std::fs::remove_file(&copy).unwrap();
        }
    }
}

#[test]
fn body_inputs_decode_without_panicking() {
    for path in inputs("event_body") {
        let bytes = std::fs::read(&path).unwrap();
        let _ = stele_engine::event::body::decode(&bytes);
        let _ = stele_engine::event::body::time_of(&bytes);
    }
}
