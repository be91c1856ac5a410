//! The rich profile's `details`: what audit events from real products carry
//! beyond the generator's standard shape.
//!
//! A rich event is a standard one (see [`crate::generator`]) whose
//! `request_id` is a UUIDv4, whose actor has no `user_agent` (the client is
//! described in `details.client`), whose area-specific details come on 25%
//! of events (60% in the standard profile), and whose `details` always hold:
//!
//! - `request`: the HTTP `method` (from the verb) and `status` (from the
//!   outcome);
//! - `session`: `mfa` (true for 80%), and an `id` when the actor has no
//!   web session of its own (API tokens, CLI logins);
//! - `client`: `app` (`web`, `cli`, `api`, `mobile`, `terraform`) and a
//!   semantic `version`;
//! - `geo`: the actor's `country` and a `city` of it;
//! - `target`: the event's resource as `{type, id}` with a UUIDv4 id, and
//!   a second target on 30% of events;
//! - `labels` on 30%: one to three `key: value` pairs (`team`, `env`,
//!   `cost_center`, `compliance`);
//! - `comment` on a third: a free-text sentence of 4 to 14 words from a
//!   500-word English vocabulary (Zipf, s = 1.1), a quarter of them with a
//!   ticket number: the kind of note a person types into a change form.
//!
//! Serialised, rich events average about 725 bytes (5th–95th percentile
//! 620–850). High-cardinality values (a UUID request id, one or two UUID
//! targets, session ids, ticket numbers) are what makes real events costly
//! to index.

use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_distr::Zipf;
use serde_json::{Map, Value, json};
use stele_engine::{Outcome, Resource};

use crate::catalog::COMMENT_WORDS;

/// What a rich `details` object is drawn from, besides the random stream.
pub(crate) struct RichContext<'a> {
    pub country: &'a str,
    pub session_id: &'a str,
    pub resource: &'a Resource,
    pub outcome: Outcome,
    pub verb: &'a str,
}

/// Draws the rich profile's extra objects into `details`.
pub(crate) fn extend(rng: &mut ChaCha8Rng, details: &mut Map<String, Value>, cx: &RichContext) {
    let status = match cx.outcome {
        Outcome::Denied => 403,
        Outcome::Failure => *[500, 502, 409, 422].choose(rng).expect("not empty"),
        _ => *[200, 200, 200, 201, 204].choose(rng).expect("not empty"),
    };
    let method = match cx.verb {
        v if v.starts_with("delete") || v.starts_with("remove") => "DELETE",
        v if v.starts_with("update") || v.starts_with("change") || v.starts_with("edit") => "PATCH",
        v if v.starts_with("create") || v.starts_with("add") => "POST",
        _ => *["POST", "PUT", "GET"].choose(rng).expect("not empty"),
    };
    details.insert(
        "request".into(),
        json!({"method": method, "status": status}),
    );
    // The actor's web session is the event's `actor.session_id`; other
    // sessions (API tokens, CLI logins) are named here.
    let mut session = Map::new();
    if cx.session_id.is_empty() {
        session.insert(
            "id".into(),
            Value::String(format!("s_{:012x}", rng.r#gen::<u64>() >> 16)),
        );
    }
    session.insert("mfa".into(), Value::Bool(rng.gen_bool(0.8)));
    details.insert("session".into(), Value::Object(session));
    let app = *["web", "web", "cli", "api", "mobile", "terraform"]
        .choose(rng)
        .expect("not empty");
    details.insert(
        "client".into(),
        json!({"app": app, "version": format!("{}.{}.{}", rng.gen_range(1..5), rng.gen_range(0..30), rng.gen_range(0..12))}),
    );
    details.insert(
        "geo".into(),
        json!({"country": cx.country, "city": city(rng, cx.country)}),
    );
    let mut targets = vec![json!({"type": cx.resource.kind, "id": uuid(rng)})];
    if rng.gen_bool(0.3) {
        let kind = *["user", "team", "repository", "policy"]
            .choose(rng)
            .expect("not empty");
        targets.push(json!({"type": kind, "id": uuid(rng)}));
    }
    details.insert("target".into(), Value::Array(targets));
    if rng.gen_bool(0.3) {
        let mut labels = Map::new();
        let n = rng.gen_range(1..=3);
        let keys: Vec<&str> = ["team", "env", "cost_center", "compliance"]
            .choose_multiple(rng, n)
            .copied()
            .collect();
        for key in keys {
            let value = match key {
                "team" => format!(
                    "{}-team",
                    crate::catalog::WORDS.choose(rng).expect("not empty")
                ),
                "env" => (*["prod", "staging", "dev"].choose(rng).expect("not empty")).into(),
                "cost_center" => format!("cc-{}", rng.gen_range(1000..1100)),
                _ => (*["sox", "pci", "hipaa", "gdpr"]
                    .choose(rng)
                    .expect("not empty"))
                .into(),
            };
            labels.insert(key.into(), Value::String(value));
        }
        details.insert("labels".into(), Value::Object(labels));
    }
    if rng.gen_bool(1.0 / 3.0) {
        details.insert("comment".into(), Value::String(comment(rng)));
    }
}

/// A random (version 4) UUID in its hyphenated form.
pub(crate) fn uuid(rng: &mut ChaCha8Rng) -> String {
    let (a, b) = (rng.r#gen::<u64>(), rng.r#gen::<u64>());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A city of `country` (a generic one for countries the table does not
/// list).
fn city(rng: &mut ChaCha8Rng, country: &str) -> &'static str {
    let cities: &[&str] = match country {
        "US" => &["Seattle", "Austin", "New York", "San Francisco"],
        "DE" => &["Berlin", "Munich", "Hamburg"],
        "GB" => &["London", "Manchester", "Edinburgh"],
        "IN" => &["Bengaluru", "Pune", "Hyderabad"],
        "BR" => &["São Paulo", "Rio de Janeiro"],
        "JP" => &["Tokyo", "Osaka"],
        "FR" => &["Paris", "Lyon"],
        _ => &["Capital", "Second City"],
    };
    cities.choose(rng).expect("not empty")
}

/// A free-text sentence of 5 to 18 words, sometimes with a ticket number.
fn comment(rng: &mut ChaCha8Rng) -> String {
    let zipf = Zipf::new(COMMENT_WORDS.len() as u64, 1.1).expect("n ≥ 1 and s > 0");
    let n = rng.gen_range(4..=14);
    let mut words: Vec<String> = (0..n)
        .map(|_| COMMENT_WORDS[rng.sample(zipf) as usize - 1].to_string())
        .collect();
    if rng.gen_bool(0.25) {
        let at = rng.gen_range(0..words.len());
        words.insert(at, format!("INC-{}", rng.gen_range(1_000..99_999)));
    }
    let mut sentence = words.join(" ");
    if let Some(first) = sentence.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    sentence.push('.');
    sentence
}
