//! `stele-proof-bench`: proof size and time against the chain walk, on a
//! log of generated events.
//!
//! ```text
//! cargo run --release -p stele-benches --bin stele-proof-bench -- [--events N (1000000)] [--dir PATH] [--samples N (200)]
//! ```
//!
//! Loads `--events` standard events into a log in `--dir` (fsync `never`:
//! the load is not what is measured), then, for `--samples` random records,
//! times making an inclusion proof of the record in the whole log (the
//! engine's `inclusion_proof` and `tree_root`) and checking it
//! (`stele_chain::merkle::verify_inclusion`), and for a few of them the
//! chain walk a receipt check costs today: every later record read and
//! linked up to the head. Prints medians and the proof sizes, and what the
//! writer's tree upkeep costs per record (the chunk roots of a million
//! leaves, timed alone) beside what appending a record cost in the load.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use stele_benches::Generator;
use stele_benches::fixture::{BoxError, policy, run_main};
use stele_chain::merkle::{verify_consistency, verify_inclusion};
use stele_engine::{Direction, FsyncPolicy, Store};

const USAGE: &str = "usage: stele-proof-bench [--events N (1000000)] [--dir PATH (target/proof-bench)] [--samples N (200)]";

struct Args {
    events: u64,
    dir: PathBuf,
    samples: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        events: 1_000_000,
        dir: PathBuf::from("target/proof-bench"),
        samples: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--events" => args.events = value()?.parse().map_err(|e| format!("--events: {e}"))?,
            "--dir" => args.dir = PathBuf::from(value()?),
            "--samples" => {
                args.samples = value()?.parse().map_err(|e| format!("--samples: {e}"))?;
            }
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if args.events == 0 || args.samples == 0 {
        return Err(format!("--events and --samples must be above 0\n{USAGE}"));
    }
    Ok(args)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn run(args: &Args) -> Result<(), BoxError> {
    let store = Store::open(&args.dir)?;
    let name = format!("proof-n{}", args.events);
    let log = match store.log(&name) {
        Ok(log) => log,
        Err(_) => store.create_log(&name, policy(FsyncPolicy::Never))?,
    };
    let have = log.visible_seq();
    let mut append_ns_per_event = None;
    if have < args.events {
        let started = Instant::now();
        let mut generator = Generator::new(1);
        let mut left = args.events - have;
        let mut appending = Duration::ZERO;
        while left > 0 {
            let n = left.min(1000) as usize;
            let batch: Vec<_> = (0..n).map(|_| generator.next_event()).collect();
            let call = Instant::now();
            log.append_batch(&batch)?;
            appending += call.elapsed();
            left -= n as u64;
        }
        log.sync()?;
        append_ns_per_event = Some(appending.as_nanos() as f64 / (args.events - have) as f64);
        log.flush_index()?;
        eprintln!(
            "loaded {} events in {:.1} s",
            args.events - have,
            started.elapsed().as_secs_f64()
        );
    }
    let n = log.visible_seq();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let seqs: Vec<u64> = (0..args.samples).map(|_| rng.gen_range(0..n)).collect();
    let mut make = Vec::new();
    let mut check = Vec::new();
    let mut hashes = 0;
    for &seq in &seqs {
        let leaf = log.read(seq)?.leaf_hash();
        let started = Instant::now();
        let proof = log.inclusion_proof(seq, n)?;
        let root = log.tree_root(n)?;
        make.push(started.elapsed());
        let started = Instant::now();
        verify_inclusion(seq, n, &leaf, &proof, &root)?;
        check.push(started.elapsed());
        hashes = hashes.max(proof.len());
    }
    let old = n / 2;
    let started = Instant::now();
    let consistency = log.consistency_proof(old, n)?;
    let (old_root, new_root) = (log.tree_root(old)?, log.tree_root(n)?);
    let consistency_make = started.elapsed();
    let started = Instant::now();
    verify_consistency(old, n, &old_root, &new_root, &consistency)?;
    let consistency_check = started.elapsed();

    // Today's receipt check: every record after the receipt's, read and
    // linked up to the head.
    let mut walk = Vec::new();
    let mut walked = 0;
    for &seq in seqs.iter().take(5) {
        let started = Instant::now();
        let mut head = log.read(seq)?.leaf_hash();
        for record in log.scan(seq + 1..n, Direction::Forward) {
            head = stele_chain::link(&head, &record?.leaf_hash());
        }
        std::hint::black_box(head);
        walk.push(started.elapsed());
        walked += n - seq;
    }
    println!("records in the log: {n}");
    println!(
        "inclusion proof: {hashes} hashes at most ({} bytes); make {:.3} ms, check {:.1} µs (medians of {})",
        hashes * 32,
        median(make).as_secs_f64() * 1e3,
        median(check).as_secs_f64() * 1e6,
        seqs.len()
    );
    println!(
        "consistency proof {old} → {n}: {} hashes; make {:.3} ms, check {:.1} µs",
        consistency.len(),
        consistency_make.as_secs_f64() * 1e3,
        consistency_check.as_secs_f64() * 1e6
    );
    println!(
        "chain walk from a receipt to the head: {} records hashed on average, {:.0} ms (median of {})",
        walked / walk.len() as u64,
        median(walk.clone()).as_secs_f64() * 1e3,
        walk.len()
    );
    // The writer's upkeep: a chunk root per 256 leaves.
    let leaves: Vec<[u8; 32]> = (0..1_048_576u64)
        .map(|i| stele_chain::leaf_hash(i, 0, &[7; 32]))
        .collect();
    let started = Instant::now();
    for chunk in leaves.chunks(256) {
        std::hint::black_box(stele_chain::merkle::root_of(chunk));
    }
    let upkeep = started.elapsed().as_nanos() as f64 / leaves.len() as f64;
    match append_ns_per_event {
        Some(append) => println!(
            "tree upkeep: {upkeep:.0} ns per record, against {append:.0} ns per record appended in this load (fsync never): {:.1}%",
            100.0 * upkeep / append
        ),
        None => println!(
            "tree upkeep: {upkeep:.0} ns per record (the log was loaded by an earlier run)"
        ),
    }
    drop(log);
    store.close()?;
    Ok(())
}

fn main() -> ExitCode {
    run_main("stele-proof-bench", parse, run)
}
