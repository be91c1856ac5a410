//! Search checked against brute force: random logs (event times out of
//! order, random batches, seals at random points, so queries span sealed
//! segments, rotated ones and the active WAL with overlapping time bounds;
//! half the events with the nested `details` of real products: requests,
//! clients, targets with UUID ids, free-text comments)
//! and random queries (filters with prefixes, time ranges, full text, both
//! orders, every page through the cursor), counts, terms and histograms,
//! each compared with a scan of every record decoded and matched here.
//! Then paging while another thread appends and seals, and how soon the
//! background indexing thread makes an append searchable.

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use stele_engine::{
    Actor, ActorKind, Direction, Event, ExactField, Filter, FsyncPolicy, Log, Order, Outcome,
    Policy, Query, Resource, SegmentState, Store,
};

// ---------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------

const TENANTS: &[&str] = &["acme", "globex", "initech", "zürich", ""];
const ACTORS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "svc",
    "svc-ci",
    "svc-deploy",
];
/// Source addresses as sources send them: IPv4, IPv6, IPv4-mapped IPv6,
/// and names (CloudTrail's `AWS Internal`, a service's host name).
const IPS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.12",
    "192.168.1.7",
    "2001:db8::1",
    "::ffff:10.0.0.7",
    "AWS Internal",
    "secretsmanager.amazonaws.com",
    "",
];
/// Network filters on `actor.ip`.
const NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "10.0.0.0/29",
    "192.168.0.0/16",
    "2001:db8::/32",
    "::ffff:0:0/96",
    "0.0.0.0/0",
];
/// `git` and `gitlab.sync` must not match `git.*`.
const ACTIONS: &[&str] = &[
    "git.push",
    "git.clone",
    "git.fetch",
    "git",
    "gitlab.sync",
    "user.login",
    "user.logout",
    "workflow.delete",
    "workflow.run",
    "repo.create",
];
const KINDS: &[&str] = &["repository", "workflow", "user", ""];
const SOURCES: &[&str] = &["github", "gitlab", "cli", ""];
/// Hex ones are stored packed (`index/packed.rs`); prefixes must still work.
const CORRELATIONS: &[&str] = &[
    "corr-1",
    "corr-2",
    "corr-3",
    "corr-10",
    "0123abcd",
    "0123abcdef",
    "deadbeefdeadbeef",
    "",
];
const OUTCOMES: &[Option<Outcome>] = &[
    Some(Outcome::Success),
    Some(Outcome::Failure),
    Some(Outcome::Denied),
    Some(Outcome::Unknown),
    None,
];
/// Message and details words. `branch` and `env` are also `details` keys
/// (keys are not text); `42` and `7` also numbers in `details`.
const WORDS: &[&str] = &[
    "deploy", "deleted", "pushed", "branch", "main", "release", "alpha", "beta", "gamma", "secret",
    "token", "rollback", "env", "42", "7", "Café", "ÜBER", "x9y",
];
/// 39 bytes: still a token.
const LONG39: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklm";
/// Long words in messages: a 40-byte commit SHA-1 (indexed), and one of
/// 270 bytes that the analyzer drops, which must not make anything match.
const DROPPED: &[&str] = &[
    concat!(
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "pneumonoultramicroscopicsilicovolcanoconiosis"
    ),
    "0123456789abcdef0123456789abcdef01234567",
];
const SEPARATORS: &[&str] = &[" ", " ", " ", "-", ", ", "/", "_", ": ", "."];
/// `details` paths that hold text or numbers (`meta` and `request` hold
/// objects; `target` is an array of objects).
const PATHS: &[&[&str]] = &[
    &["branch"],
    &["env"],
    &["count"],
    &["tags"],
    &["note"],
    &["meta", "env"],
    &["meta", "level"],
    &["meta"],
    &["request", "status"],
    &["request"],
    &["client", "app"],
    &["target", "id"],
    &["target", "type"],
    &["comment"],
];
const NUMBERS: &[i64] = &[7, 42, 100, 200, 403];
/// Ids as real `details` carry them (the rich shape): the analyzer splits
/// each into its hex groups, and queries ask for single groups.
const UUIDS: &[&str] = &[
    "3f2a9c1e-7b4d-4e21-9a0c-5d8e7f6a1b2c",
    "9b1d0e4f-2c3a-4b5d-8e6f-7a8b9c0d1e2f",
    "3f2a9c1e-0000-4111-8222-333344445555",
    "c0ffee00-1234-4abc-9def-0123456789ab",
];
const HEX_GROUPS: &[&str] = &[
    "3f2a9c1e",
    "7b4d",
    "5d8e7f6a1b2c",
    "c0ffee00",
    "4abc",
    "0000",
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("non-empty pool")
}

fn word(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.03) {
        LONG39.to_string()
    } else if rng.gen_bool(0.1) {
        (*pick(rng, HEX_GROUPS)).to_string()
    } else {
        (*pick(rng, WORDS)).to_string()
    }
}

fn words(rng: &mut StdRng, max: usize) -> String {
    let n = rng.gen_range(1..=max);
    let mut out = String::new();
    for i in 0..n {
        if i > 0 {
            out.push_str(pick::<&str>(rng, SEPARATORS));
        }
        if rng.gen_bool(0.04) {
            out.push_str(pick::<&str>(rng, DROPPED));
        } else {
            out.push_str(&word(rng));
        }
    }
    out
}

fn details(rng: &mut StdRng) -> Option<Map<String, Value>> {
    if rng.gen_bool(0.2) {
        return None;
    }
    let mut map = Map::new();
    if rng.gen_bool(0.5) {
        map.insert("branch".into(), json!(words(rng, 2)));
    }
    if rng.gen_bool(0.4) {
        map.insert("env".into(), json!(word(rng)));
    }
    if rng.gen_bool(0.4) {
        let count = if rng.gen_bool(0.8) {
            json!(*pick(rng, NUMBERS))
        } else {
            json!(pick(rng, NUMBERS).to_string())
        };
        map.insert("count".into(), count);
    }
    if rng.gen_bool(0.3) {
        let tags: Vec<String> = (0..rng.gen_range(1..=3)).map(|_| word(rng)).collect();
        map.insert("tags".into(), json!(tags));
    }
    if rng.gen_bool(0.3) {
        map.insert("note".into(), json!(words(rng, 4)));
    }
    if rng.gen_bool(0.3) {
        map.insert(
            "meta".into(),
            json!({"env": word(rng), "level": *pick(rng, NUMBERS)}),
        );
    }
    if rng.gen_bool(0.5) {
        rich_details(rng, &mut map);
    }
    Some(map)
}

/// The nested objects of real products' events (the benchmarks' rich
/// profile): a request, a client, targets with UUID ids, a free-text
/// comment.
fn rich_details(rng: &mut StdRng, map: &mut Map<String, Value>) {
    map.insert(
        "request".into(),
        json!({"method": *pick(rng, &["GET", "POST", "DELETE"]), "status": *pick(rng, &[200, 403])}),
    );
    map.insert("client".into(), json!({"app": word(rng)}));
    let targets: Vec<Value> = (0..rng.gen_range(1..=2))
        .map(|_| json!({"type": *pick(rng, &["repository", "team"]), "id": *pick(rng, UUIDS)}))
        .collect();
    map.insert("target".into(), Value::Array(targets));
    if rng.gen_bool(0.4) {
        map.insert("comment".into(), json!(words(rng, 8)));
    }
}

fn random_event(rng: &mut StdRng, time: i64) -> Event {
    let maybe = |rng: &mut StdRng, p: f64, value: String| {
        if rng.gen_bool(p) {
            value
        } else {
            String::new()
        }
    };
    Event {
        time: Some(time),
        tenant: (*pick(rng, TENANTS)).into(),
        actor: Actor {
            id: (*pick(rng, ACTORS)).into(),
            kind: Some(ActorKind::User),
            ip: (*pick(rng, IPS)).into(),
            ..Actor::default()
        },
        action: (*pick(rng, ACTIONS)).into(),
        resource: Resource {
            kind: (*pick(rng, KINDS)).into(),
            id: {
                let id = rng.gen_range(0..30).to_string();
                maybe(rng, 0.9, id)
            },
            name: String::new(),
        },
        outcome: *pick(rng, OUTCOMES),
        source: (*pick(rng, SOURCES)).into(),
        correlation_id: (*pick(rng, CORRELATIONS)).into(),
        request_id: {
            let id = request_id(rng.gen_range(0..60));
            maybe(rng, 0.7, id)
        },
        message: {
            let message = words(rng, 6);
            maybe(rng, 0.95, message)
        },
        details: details(rng),
        ..Event::default()
    }
}

/// The values a filter on `field` picks from (non-empty).
/// Request id number `i`, in the shapes real ids take: lowercase UUIDs
/// and hex ids (stored packed, `index/packed.rs`), an uppercase UUID and
/// plain names (stored as they are), and one starting with a byte the
/// packed form uses as a tag.
fn request_id(i: u32) -> String {
    let h = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    match i % 6 {
        0 => format!("req-{i}"),
        1 => format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            (h >> 20) & 0xfff,
            h & 0xffff_ffff_ffff
        ),
        2 => format!("{h:016x}"),
        3 => format!("{:08x}", h >> 32),
        4 => request_id(i - 3).to_uppercase(),
        _ => format!("\u{1}x{i}"),
    }
}

fn pool(field: ExactField) -> Vec<String> {
    let own = |v: &[&str]| -> Vec<String> {
        v.iter()
            .filter(|s| !s.is_empty())
            .map(|s| (*s).to_string())
            .collect()
    };
    match field {
        ExactField::Tenant => own(TENANTS),
        ExactField::ActorId => own(ACTORS),
        ExactField::ActorIp => own(IPS).into_iter().chain(own(NETWORKS)).collect(),
        ExactField::Action => own(ACTIONS),
        ExactField::ResourceKind => own(KINDS),
        ExactField::ResourceId => (0..30).map(|i| i.to_string()).collect(),
        ExactField::Outcome => own(&["success", "failure", "denied", "unknown"]),
        ExactField::Source => own(SOURCES),
        ExactField::CorrelationId => own(CORRELATIONS),
        ExactField::RequestId => (0..60).map(request_id).collect(),
    }
}

// ---------------------------------------------------------------------------
// The brute-force model
// ---------------------------------------------------------------------------

/// Tokens at least this long are dropped by tantivy's `default` analyzer
/// (`RemoveLongFilter::limit(256)` keeps `len < 256`).
const DROPPED_TOKEN_BYTES: usize = 256;

/// tantivy's `default` analyzer: split on non-alphanumeric characters, drop
/// long tokens, lowercase.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.len() < DROPPED_TOKEN_BYTES)
        .map(str::to_lowercase)
        .collect()
}

/// One record as read back by a scan.
#[derive(Debug)]
struct Stored {
    seq: u64,
    time: i64,
    event: Event,
    /// Tokens of `message` and of every string in `details`: what bare
    /// words search.
    message_tokens: HashSet<String>,
    details_tokens: HashSet<String>,
}

impl Stored {
    fn new(seq: u64, event: Event) -> Stored {
        let message_tokens = tokens(&event.message).into_iter().collect();
        let mut details_tokens = HashSet::new();
        if let Some(details) = &event.details {
            for value in details.values() {
                each_string(value, &mut |s| details_tokens.extend(tokens(s)));
            }
        }
        Stored {
            seq,
            time: event.time.expect("every test event has a time"),
            event,
            message_tokens,
            details_tokens,
        }
    }

    /// Whether a bare word matches (message or any string of details).
    fn has_word(&self, word: &str) -> bool {
        let t = tokens(word);
        let t = &t[0];
        self.message_tokens.contains(t) || self.details_tokens.contains(t)
    }
}

fn each_string(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| each_string(v, f)),
        Value::Object(map) => map.values().for_each(|v| each_string(v, f)),
        _ => {}
    }
}

/// The leaf values at `path` of `details`, as tantivy indexes them: arrays
/// are flattened at every level, so `target.id` reaches the `id` of each
/// object in a `target` array.
fn leaves_at<'a>(details: &'a Map<String, Value>, path: &[&str]) -> Vec<&'a Value> {
    fn walk<'a>(v: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
        match (v, path.split_first()) {
            (Value::Array(items), _) => items.iter().for_each(|i| walk(i, path, out)),
            (Value::Object(map), Some((key, rest))) => {
                if let Some(next) = map.get(*key) {
                    walk(next, rest, out);
                }
            }
            (Value::Object(_) | Value::Null, _) | (_, Some(_)) => {}
            (leaf, None) => out.push(leaf),
        }
    }
    let mut out = Vec::new();
    if let Some(v) = details.get(path[0]) {
        walk(v, &path[1..], &mut out);
    }
    out
}

/// The full-text part of a generated query.
#[derive(Debug, Clone)]
enum Text {
    None,
    /// Bare words joined by AND (each has a token: queries never use the
    /// words the analyzer drops, see the tests at the end).
    All(Vec<String>),
    /// `a OR b`.
    Or(String, String),
    /// `a -b`.
    AndNot(String, String),
    /// `message:w`.
    Message(String),
    /// `details.a.b:w`.
    Path(&'static [&'static str], String),
    /// An exact field by name in the text (`action:"git.*"`, `actor.ip:
    /// IN [a b]`), as a filter with those values.
    Exact(Filter),
    /// `w -field:"v"`.
    WordNotExact(String, Filter),
    /// `-field:"v"` alone.
    NotExact(Filter),
    /// `field:"v" OR w`.
    ExactOrWord(Filter, String),
}

/// A filter as the text query writes it: one value quoted, several as a
/// set when they are plain words, else alternatives.
fn render_exact(filter: &Filter) -> String {
    let name = if filter.field == ExactField::ActorId && filter.values.len() == 1 {
        "actor"
    } else {
        filter.field.name()
    };
    let plain = |v: &String| v.chars().all(|c| c.is_alphanumeric() || "-_.*".contains(c));
    match filter.values.as_slice() {
        [one] => format!("{name}:\"{one}\""),
        many if many.iter().all(plain) => format!("{name}: IN [{}]", many.join(" ")),
        many => {
            let each: Vec<String> = many.iter().map(|v| format!("{name}:\"{v}\"")).collect();
            format!("({})", each.join(" OR "))
        }
    }
}

impl Text {
    fn render(&self) -> String {
        match self {
            Text::None => String::new(),
            Text::All(words) => words.join(" "),
            Text::Or(a, b) => format!("{a} OR {b}"),
            Text::AndNot(a, b) => format!("{a} -{b}"),
            Text::Message(w) => format!("message:{w}"),
            Text::Path(path, w) => format!("details.{}:{w}", path.join(".")),
            Text::Exact(f) => render_exact(f),
            Text::WordNotExact(w, f) => format!("{w} -{}", render_exact(f)),
            Text::NotExact(f) => format!("-{}", render_exact(f)),
            Text::ExactOrWord(f, w) => format!("{} OR {w}", render_exact(f)),
        }
    }

    fn matches(&self, s: &Stored) -> bool {
        match self {
            Text::None => true,
            Text::All(words) => words.iter().all(|w| s.has_word(w)),
            Text::Or(a, b) => s.has_word(a) || s.has_word(b),
            Text::AndNot(a, b) => s.has_word(a) && !s.has_word(b),
            Text::Message(w) => s.message_tokens.contains(&tokens(w)[0]),
            Text::Path(path, w) => {
                let Some(details) = &s.event.details else {
                    return false;
                };
                let token = &tokens(w)[0];
                let number = w.parse::<i64>().ok();
                leaves_at(details, path).into_iter().any(|leaf| match leaf {
                    Value::String(text) => tokens(text).contains(token),
                    Value::Number(n) => number.is_some() && n.as_i64() == number,
                    _ => false,
                })
            }
            Text::Exact(f) => filter_matches(f, s),
            Text::WordNotExact(w, f) => s.has_word(w) && !filter_matches(f, s),
            Text::NotExact(f) => !filter_matches(f, s),
            Text::ExactOrWord(f, w) => filter_matches(f, s) || s.has_word(w),
        }
    }
}

/// Whether the stored event has a value of the filter's field that one of
/// its values accepts: equal, a prefix (`git.*`), or on `actor.ip` a
/// network holding the address.
fn filter_matches(f: &Filter, s: &Stored) -> bool {
    let value = f.field.value(&s.event);
    !value.is_empty()
        && f.values.iter().any(|want| match want.strip_suffix('*') {
            Some(prefix) => value.starts_with(prefix),
            None if f.field == ExactField::ActorIp && NETWORKS.contains(&want.as_str()) => {
                value == want || in_network(want, value)
            }
            None => value == want,
        })
}

/// Whether `value` is an address whose first bits are those of `network`,
/// both written as IPv6 (IPv4 as IPv4-mapped, `::ffff:a.b.c.d`).
fn in_network(network: &str, value: &str) -> bool {
    use std::net::IpAddr;
    let Ok(ip) = value.parse::<IpAddr>() else {
        return false;
    };
    let as_v6 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let (first, bits) = match network.parse::<ipnet::IpNet>().expect("a network") {
        ipnet::IpNet::V4(n) => (n.addr().to_ipv6_mapped(), n.prefix_len() + 96),
        ipnet::IpNet::V6(n) => (n.addr(), n.prefix_len()),
    };
    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
    u128::from(as_v6(ip)) & mask == u128::from(first) & mask
}

/// A generated query: the engine's form and what the model needs.
#[derive(Debug, Clone)]
struct Case {
    query: Query,
    text: Text,
}

impl Case {
    fn matches(&self, s: &Stored) -> bool {
        let q = &self.query;
        if q.from.is_some_and(|from| s.time < from) || q.to.is_some_and(|to| s.time >= to) {
            return false;
        }
        q.filters.iter().all(|f| filter_matches(f, s)) && self.text.matches(s)
    }

    /// Matching records in the query's order.
    fn expected<'a>(&self, all: &'a [Stored], below: u64) -> Vec<&'a Stored> {
        let mut out: Vec<&Stored> = all
            .iter()
            .filter(|s| s.seq < below && self.matches(s))
            .collect();
        out.sort_by_key(|s| (s.time, s.seq));
        if self.query.order == Order::NewestFirst {
            out.reverse();
        }
        out
    }
}

/// A query word as a user might type it.
fn cased(rng: &mut StdRng, w: &str) -> String {
    match rng.gen_range(0..4) {
        0 => w.to_uppercase(),
        1 => w.to_lowercase(),
        _ => w.to_string(),
    }
}

fn random_text(rng: &mut StdRng) -> Text {
    let w = |rng: &mut StdRng| {
        let w = word(rng);
        cased(rng, &w)
    };
    let exact = |rng: &mut StdRng| {
        let field = *pick(rng, &ExactField::ALL);
        random_filter(rng, field)
    };
    match rng.gen_range(0..16) {
        0..=2 => Text::None,
        3..=4 => Text::All(vec![w(rng)]),
        5..=6 => Text::All(vec![w(rng), w(rng)]),
        7 => Text::Or(w(rng), w(rng)),
        8 => Text::AndNot(w(rng), w(rng)),
        9 => Text::Message(w(rng)),
        12 => Text::Exact(exact(rng)),
        13 => Text::WordNotExact(w(rng), exact(rng)),
        14 => Text::NotExact(exact(rng)),
        15 => Text::ExactOrWord(exact(rng), w(rng)),
        _ => {
            let path = *pick(rng, PATHS);
            let numeric = ["count", "level", "status"];
            let value = if path.iter().any(|k| numeric.contains(k)) && rng.gen_bool(0.6) {
                pick(rng, NUMBERS).to_string()
            } else {
                w(rng)
            };
            Text::Path(path, value)
        }
    }
}

fn random_filter(rng: &mut StdRng, field: ExactField) -> Filter {
    let pool = pool(field);
    let n = rng.gen_range(1..=3);
    let values = (0..n)
        .map(|_| {
            let value = pick(rng, &pool).clone();
            match rng.gen_range(0..10) {
                0 => "nobody".to_string(),
                1..=2 => {
                    let chars: Vec<char> = value.chars().collect();
                    let keep = rng.gen_range(1..=chars.len());
                    let mut prefix: String = chars[..keep].iter().collect();
                    prefix.push('*');
                    prefix
                }
                _ => value,
            }
        })
        .collect();
    Filter { field, values }
}

/// The time window events fall in.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    len: i64,
}

fn random_time_range(rng: &mut StdRng, w: Window) -> (Option<i64>, Option<i64>) {
    let margin = w.len / 10;
    let at = |rng: &mut StdRng| {
        if rng.gen_bool(0.3) {
            None
        } else if rng.gen_bool(0.3) {
            // Whole seconds, as event times often are: exercises ties at
            // the bounds.
            let s = rng.gen_range(-margin..w.len + margin) / 1_000_000_000;
            Some(w.start + s * 1_000_000_000)
        } else {
            Some(w.start + rng.gen_range(-margin..w.len + margin))
        }
    };
    let (a, b) = (at(rng), at(rng));
    match (a, b) {
        (Some(a), Some(b)) if a > b => (Some(b), Some(a)),
        other => other,
    }
}

fn random_case(rng: &mut StdRng, w: Window) -> Case {
    let mut fields = ExactField::ALL.to_vec();
    fields.shuffle(rng);
    let n_filters = *pick(rng, &[0, 0, 1, 1, 1, 2, 2, 3]);
    let filters = fields[..n_filters]
        .iter()
        .map(|f| random_filter(rng, *f))
        .collect();
    let (from, to) = if rng.gen_bool(0.3) {
        (None, None)
    } else {
        random_time_range(rng, w)
    };
    let text = random_text(rng);
    Case {
        query: Query {
            from,
            to,
            filters,
            text: text.render(),
            order: if rng.gen_bool(0.5) {
                Order::NewestFirst
            } else {
                Order::OldestFirst
            },
            limit: *pick(rng, &[1, 2, 3, 5, 7, 10, 25, 100, 1000, 10_000]),
            cursor: None,
        },
        text,
    }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Every record of the log, decoded, in seq order.
fn brute_records(log: &Log) -> Vec<Stored> {
    log.scan(.., Direction::Forward)
        .map(|r| {
            let record = r.expect("scan");
            let event = record.event().expect("decodes").expect("not redacted");
            Stored::new(record.seq, event)
        })
        .collect()
}

/// Walks every page of `case` and checks each against `expected` (and, when
/// given, that every page reports `snapshot`).
///
/// With `rng`, the limit changes from page to page (a cursor does not
/// depend on it).
fn walk_and_check(
    log: &Log,
    case: &Case,
    expected: &[&Stored],
    snapshot: Option<u64>,
    mut rng: Option<&mut StdRng>,
    ctx: &str,
) {
    let mut query = case.query.clone();
    let mut got: Vec<u64> = Vec::new();
    let mut pages = 0usize;
    loop {
        let limit = query.limit;
        let page = log
            .search(&query)
            .unwrap_or_else(|e| panic!("{ctx}: search failed on page {pages}: {e}"));
        if let Some(snapshot) = snapshot {
            assert_eq!(
                page.stats.snapshot, snapshot,
                "{ctx}: snapshot of page {pages}"
            );
        }
        let from = got.len().min(expected.len());
        let to = (got.len() + limit).min(expected.len());
        let want: Vec<u64> = expected[from..to].iter().map(|s| s.seq).collect();
        let seqs: Vec<u64> = page.hits.iter().map(|h| h.record.seq).collect();
        assert_eq!(
            seqs,
            want,
            "{ctx}: page {pages} (limit {limit}, {} expected in all)",
            expected.len()
        );
        for (hit, stored) in page.hits.iter().zip(&expected[from..to]) {
            assert_eq!(
                hit.event.as_ref(),
                Some(&stored.event),
                "{ctx}: event of seq {}",
                stored.seq
            );
        }
        assert_eq!(
            page.next_cursor.is_some(),
            page.hits.len() == limit,
            "{ctx}: a cursor exactly when the page is full (page {pages})"
        );
        got.extend(seqs);
        pages += 1;
        assert!(
            pages <= expected.len() + 1,
            "{ctx}: too many pages ({pages})"
        );
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
        if let Some(rng) = rng.as_deref_mut()
            && rng.gen_bool(0.3)
        {
            query.limit = (limit / 2 + rng.gen_range(0..=limit)).clamp(1, 10_000);
        }
    }
    let all: Vec<u64> = expected.iter().map(|s| s.seq).collect();
    assert_eq!(got, all, "{ctx}: all pages together");
}

/// Top `top` values by count desc, then value asc; (top, other, missing).
fn brute_terms(
    matching: &[&Stored],
    field: ExactField,
    top: usize,
) -> (Vec<(String, u64)>, u64, u64) {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut missing = 0;
    for s in matching {
        let v = field.value(&s.event);
        if v.is_empty() {
            missing += 1;
        } else {
            *counts.entry(v.to_string()).or_default() += 1;
        }
    }
    let mut values: Vec<(String, u64)> = counts.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    values.truncate(top);
    let listed: u64 = values.iter().map(|v| v.1).sum();
    let other = matching.len() as u64 - missing - listed;
    (values, other, missing)
}

fn check_aggregations(log: &Log, case: &Case, all: &[Stored], rng: &mut StdRng, ctx: &str) {
    let matching = case.expected(all, u64::MAX);
    let total = matching.len() as u64;
    let count = log
        .count(&case.query)
        .unwrap_or_else(|e| panic!("{ctx}: count: {e}"));
    assert_eq!(count, total, "{ctx}: count");

    for _ in 0..2 {
        let field = *pick(rng, &ExactField::ALL);
        let top = rng.gen_range(1..=12);
        let terms = log
            .count_by(&case.query, field, top)
            .unwrap_or_else(|e| panic!("{ctx}: count_by {field}: {e}"));
        let (want_top, other, missing) = brute_terms(&matching, field, top);
        let ctx = format!("{ctx}: count_by {field} top {top}");
        assert_eq!(terms.top, want_top, "{ctx}: top");
        assert_eq!(terms.other, other, "{ctx}: other");
        assert_eq!(terms.missing, missing, "{ctx}: missing");
        assert_eq!(terms.total, total, "{ctx}: total");
    }

    let interval = *pick(
        rng,
        &[
            1_000_000_000,
            7_777_777_777,
            60_000_000_000,
            333_000_000_000,
            3_600_000_000_000,
        ],
    );
    let split = rng
        .gen_bool(0.5)
        .then(|| (*pick(rng, &ExactField::ALL), rng.gen_range(1..=5)));
    let h = log
        .histogram(&case.query, interval, split)
        .unwrap_or_else(|e| panic!("{ctx}: histogram: {e}"));
    let ctx = format!("{ctx}: histogram interval {interval} split {split:?}");
    let bucket_of = |t: i64| t.div_euclid(interval) * interval;
    let split_values: Vec<String> = split
        .map(|(field, top)| {
            brute_terms(&matching, field, top)
                .0
                .into_iter()
                .map(|v| v.0)
                .collect()
        })
        .unwrap_or_default();
    let mut per_bucket: BTreeMap<i64, (u64, Vec<u64>)> = BTreeMap::new();
    for s in &matching {
        let entry = per_bucket
            .entry(bucket_of(s.time))
            .or_insert_with(|| (0, vec![0; split_values.len()]));
        entry.0 += 1;
        if let Some((field, _)) = split {
            let v = field.value(&s.event);
            if let Some(i) = split_values.iter().position(|sv| sv == v) {
                entry.1[i] += 1;
            }
        }
    }
    let first = case
        .query
        .from
        .map(bucket_of)
        .or_else(|| per_bucket.keys().next().copied());
    let last = case
        .query
        .to
        .map(|t| bucket_of(t - 1))
        .or_else(|| per_bucket.keys().next_back().copied());
    let empty_range = matches!((case.query.from, case.query.to), (Some(f), Some(t)) if f >= t);
    let mut want = Vec::new();
    if let (Some(first), Some(last)) = (first, last)
        && !empty_range
    {
        let mut start = first;
        while start <= last {
            let (count, split) = per_bucket
                .get(&start)
                .cloned()
                .unwrap_or_else(|| (0, vec![0; split_values.len()]));
            want.push((start, count, split));
            start += interval;
        }
    }
    let got: Vec<(i64, u64, Vec<u64>)> = h
        .buckets
        .iter()
        .map(|b| (b.start, b.count, b.split.clone()))
        .collect();
    assert_eq!(h.interval, interval, "{ctx}: interval");
    assert_eq!(h.split_values, split_values, "{ctx}: split values");
    assert_eq!(h.total, total, "{ctx}: total");
    assert_eq!(got, want, "{ctx}: buckets");
}

// ---------------------------------------------------------------------------
// 1 and 2: random logs and queries against brute force
// ---------------------------------------------------------------------------

/// Builds a log of `n` random events (times out of order, seals at random
/// points); returns the store, the log and the time window.
fn build_log(
    rng: &mut StdRng,
    dir: &std::path::Path,
    n: usize,
    max_records: u64,
) -> (Store, Arc<Log>, Window) {
    let store = Store::open(dir).unwrap();
    let log = store
        .create_log(
            "diff",
            common::small_policy(FsyncPolicy::Never, max_records),
        )
        .unwrap();
    let len: i64 = 3_000 * 1_000_000_000;
    let start = *pick(
        rng,
        &[1_790_000_000_000_000_000, -len / 2, -7 * 1_000_000_000],
    );
    let window = Window { start, len };
    // How far an event's time strays from its place in the sequence: a
    // little (segments mostly ordered, bounds overlapping at the edges) up
    // to the whole window (every segment spans everything).
    let jitter = (len as f64 * *pick(rng, &[0.02, 0.2, 1.0])) as i64;
    // Times in whole seconds make many ties, broken by seq.
    let grain: i64 = *pick(rng, &[1_000_000_000, 1_000_000, 1]);
    let seal_chance = *pick(rng, &[0.0, 0.05, 0.2]);
    let mut appended = 0;
    while appended < n {
        let size = rng.gen_range(1..=150).min(n - appended);
        let batch: Vec<Event> = (appended..appended + size)
            .map(|i| {
                let drift = ((len - jitter) as f64 * i as f64 / n as f64) as i64;
                let t = (drift + rng.gen_range(0..=jitter)) / grain * grain;
                random_event(rng, start + t)
            })
            .collect();
        log.append(&batch).unwrap();
        appended += size;
        if rng.gen_bool(seal_chance) {
            log.seal().unwrap();
        }
    }
    if rng.gen_bool(0.5) {
        log.finish_seals().unwrap();
    }
    log.flush_index().unwrap();
    (store, log, window)
}

fn differential(seed: u64, n: usize, max_records: u64, queries: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (store, log, window) = build_log(&mut rng, dir.path(), n, max_records);
    let all = brute_records(&log);
    assert_eq!(all.len(), n, "seed {seed}: every event is read back");
    assert!(log.segments().len() > 1, "seed {seed}: several segments");
    let snapshot = n as u64;

    for i in 0..queries {
        let mut case = random_case(&mut rng, window);
        let expected = case.expected(&all, u64::MAX);
        // Keep the walk to a few dozen pages.
        case.query.limit = case.query.limit.max(expected.len().div_ceil(40));
        let ctx = format!("seed {seed} query {i} {:?}", case.query);
        let vary = rng.gen_bool(0.3).then_some(&mut rng);
        walk_and_check(&log, &case, &expected, Some(snapshot), vary, &ctx);
        if i.is_multiple_of(3) {
            check_aggregations(&log, &case, &all, &mut rng, &ctx);
        }
    }
    drop(log);
    store.close().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 16,
        ..ProptestConfig::default()
    })]

    #[test]
    fn search_and_aggregations_match_brute_force(
        seed in any::<u64>(),
        n in 800usize..3000,
        max_records in 40u64..400,
    ) {
        differential(seed, n, max_records, 24);
    }
}

// ---------------------------------------------------------------------------
// 3: paging while appends, seals and index commits go on
// ---------------------------------------------------------------------------

/// One walk through every page of a query.
struct Walk {
    case: usize,
    snapshot: u64,
    seqs: Vec<u64>,
    appended_during: bool,
    view_changed_during: bool,
}

#[test]
fn pages_are_pinned_to_the_first_snapshot_while_appends_go_on() {
    let seed = 0x5eed_2024;
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut policy = common::small_policy(FsyncPolicy::Never, 150);
    policy.index.commit_interval_ms = 20;
    let log = store.create_log("busy", policy).unwrap();
    let len: i64 = 600 * 1_000_000_000;
    let window = Window {
        start: 1_790_000_000_000_000_000,
        len,
    };
    let batch = move |rng: &mut StdRng, n: usize| -> Vec<Event> {
        (0..n)
            .map(|_| {
                let t = rng.gen_range(0..len) / 1_000_000 * 1_000_000;
                random_event(rng, window.start + t)
            })
            .collect()
    };
    for _ in 0..10 {
        log.append(&batch(&mut rng, 150)).unwrap();
    }
    log.flush_index().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let log = Arc::clone(&log);
        let stop = Arc::clone(&stop);
        let mut rng = StdRng::seed_from_u64(seed + 1);
        std::thread::spawn(move || {
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) && rounds < 5_000 {
                let n = rng.gen_range(1..=20);
                log.append(&batch(&mut rng, n)).unwrap();
                rounds += 1;
                if rounds.is_multiple_of(17) {
                    log.seal().unwrap();
                }
                if rounds.is_multiple_of(5) {
                    log.flush_index().unwrap();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };

    let mut cases = Vec::new();
    for order in [Order::NewestFirst, Order::OldestFirst] {
        cases.push(Case {
            query: Query {
                order,
                limit: 61,
                ..Query::default()
            },
            text: Text::None,
        });
        let text = Text::All(vec!["alpha".into()]);
        cases.push(Case {
            query: Query {
                order,
                limit: 5,
                from: Some(window.start + len / 4),
                to: Some(window.start + len / 2),
                text: text.render(),
                ..Query::default()
            }
            .filter(ExactField::Action, &["git.*", "user.login"]),
            text,
        });
    }
    // Walk only once the appender is under way.
    let waiting = Instant::now();
    while log.visible_seq() < 1_600 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "appender stuck"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let view = |log: &Log| -> Vec<(u64, SegmentState)> {
        log.segments()
            .iter()
            .map(|s| (s.first_seq, s.state))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut walks = Vec::new();
    for round in 0..3 {
        if round > 0 && Instant::now() > deadline {
            break;
        }
        for (i, case) in cases.iter().enumerate() {
            let (visible, segments) = (log.visible_seq(), view(&log));
            let mut query = case.query.clone();
            let mut seqs = Vec::new();
            let mut snapshot = None;
            loop {
                let page = log.search(&query).unwrap();
                let first = *snapshot.get_or_insert(page.stats.snapshot);
                assert_eq!(page.stats.snapshot, first, "every page keeps the snapshot");
                seqs.extend(page.hits.iter().map(|h| h.record.seq));
                match page.next_cursor {
                    Some(cursor) => query.cursor = Some(cursor),
                    None => break,
                }
                // Let appends, seals and commits happen between pages.
                std::thread::sleep(Duration::from_millis(1));
            }
            walks.push(Walk {
                case: i,
                snapshot: snapshot.expect("one page at least"),
                seqs,
                appended_during: log.visible_seq() > visible,
                view_changed_during: view(&log) != segments,
            });
        }
    }
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();
    log.flush_index().unwrap();

    let all = brute_records(&log);
    for walk in &walks {
        let case = &cases[walk.case];
        let snapshot = walk.snapshot;
        let ctx = format!("{:?} snapshot {snapshot}", case.query);
        let unique: BTreeSet<u64> = walk.seqs.iter().copied().collect();
        assert_eq!(unique.len(), walk.seqs.len(), "{ctx}: a seq returned twice");
        assert!(
            walk.seqs.iter().all(|s| *s < snapshot),
            "{ctx}: a seq at or above the snapshot"
        );
        let expected: Vec<u64> = case
            .expected(&all, snapshot)
            .iter()
            .map(|s| s.seq)
            .collect();
        assert!(!expected.is_empty(), "{ctx}: the query matches something");
        let missing: Vec<&u64> = expected.iter().filter(|s| !unique.contains(s)).collect();
        assert!(missing.is_empty(), "{ctx}: not returned: {missing:?}");
        assert_eq!(walk.seqs, expected, "{ctx}: order");
    }
    // The test means something only if the log moved under the walks.
    let snapshots: BTreeSet<u64> = walks.iter().map(|w| w.snapshot).collect();
    assert!(snapshots.len() > 1, "the index never moved: {snapshots:?}");
    assert!(
        walks.iter().any(|w| w.appended_during),
        "no append during a walk"
    );
    assert!(
        walks.iter().any(|w| w.view_changed_during),
        "no rotation or seal during a walk"
    );
    drop(log);
    store.close().unwrap();
}

// ---------------------------------------------------------------------------
// 4: freshness through the background indexing thread
// ---------------------------------------------------------------------------

#[test]
fn an_append_is_searchable_within_the_commit_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let policy = Policy::default();
    let interval = Duration::from_millis(policy.index.commit_interval_ms);
    assert_eq!(interval, Duration::from_secs(1));
    let log = store.create_log("fresh", policy).unwrap();
    // Back to back, so later rounds start right after a commit and have to
    // wait for the interval to come round.
    for round in 0..3 {
        let word = format!("freshword{round}q");
        let started = Instant::now();
        log.append(&[Event {
            action: "user.login".into(),
            message: format!("a {word} here"),
            ..Event::default()
        }])
        .unwrap();
        let query = Query {
            text: word.clone(),
            ..Query::default()
        };
        loop {
            let page = log.search(&query).unwrap();
            if !page.hits.is_empty() {
                assert_eq!(page.hits.len(), 1, "round {round}");
                break;
            }
            assert!(
                started.elapsed() < interval + Duration::from_secs(2),
                "round {round}: `{word}` not searchable after {:?}",
                started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    drop(log);
    store.close().unwrap();
}

// ---------------------------------------------------------------------------
// Engine bugs found by the model (these fail until the engine is fixed)
// ---------------------------------------------------------------------------

/// A log with one event per message, indexed.
fn log_of_messages(dir: &std::path::Path, messages: &[&str]) -> (Store, Arc<Log>) {
    let store = Store::open(dir).unwrap();
    let log = store.create_log("words", Policy::default()).unwrap();
    let events: Vec<Event> = messages
        .iter()
        .map(|m| Event {
            action: "git.push".into(),
            message: (*m).into(),
            ..Event::default()
        })
        .collect();
    log.append(&events).unwrap();
    log.flush_index().unwrap();
    (store, log)
}

fn found(log: &Log, text: &str) -> Vec<u64> {
    let query = Query {
        text: text.into(),
        order: Order::OldestFirst,
        ..Query::default()
    };
    let page = log.search(&query).unwrap();
    page.hits.iter().map(|h| h.record.seq).collect()
}

/// A word of 40 bytes, such as a git commit SHA-1, is indexed and found
/// (tantivy's own `default` analyzer would drop it).
#[test]
fn a_40_byte_word_such_as_a_commit_sha_is_found() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(sha.len(), 40);
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = log_of_messages(dir.path(), &[&format!("pushed {sha} to main")]);
    assert_eq!(found(&log, "main"), vec![0]);
    assert_eq!(found(&log, sha), vec![0], "a 40-byte word is searchable");
}

/// Words are joined by AND; a word too long to be indexed cannot match, so
/// rather than being left out of the query (which would widen the AND to
/// every event with the other words) it is refused, with its position.
#[test]
fn an_unindexed_word_does_not_widen_an_and() {
    let long = DROPPED[0];
    assert!(long.len() > 255);
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = log_of_messages(dir.path(), &["pushed main", &format!("pushed {long}")]);
    let query = Query {
        text: format!("pushed {long}"),
        ..Query::default()
    };
    let err = log.search(&query).unwrap_err().to_string();
    assert!(
        err.contains("invalid query text")
            && err.contains("character 7")
            && err.contains("longer than 255 bytes"),
        "{err}"
    );
}
