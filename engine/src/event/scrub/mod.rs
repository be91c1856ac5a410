//! Scrubbing: secrets found by pattern anywhere in an event's free text are
//! replaced by `[redacted:<rule>]` before it is hashed and stored, so that
//! no credential enters the write-once log, even where no field path for
//! it is known in advance (sanitising, `sanitize.rs`, handles known paths).
//!
//! What is scanned: `message`, `reason`, `actor.display_name`,
//! `actor.user_agent`, `resource.name`, and every string inside `details`,
//! its keys included; a `details` key whose name is itself a secret's
//! (`password`, `api_key`, `aws_secret_access_key`, …) has its string
//! value replaced whole (rule `key_value`). Identifiers (`id`, `action`,
//! `tenant`, `actor.id`, `actor.ip`, `resource.kind`, `resource.id`,
//! `source`, request and correlation ids) are left alone: queries and
//! idempotency depend on them.
//!
//! An event that had something scrubbed says so in `details._scrubbed`:
//! `{"rules": [names], "counts": {name: n}}` (never the secret), so
//! `details._scrubbed.rules:jwt` finds the sources that leak. With
//! scrubbing on, that key is the server's: one sent by a client is
//! removed.
//!
//! Speed: every string of an event is joined and scanned once by a
//! `RegexSet` of every rule's patterns; an event with no match anywhere
//! (the common case) costs that one pass. Only the rules that matched are
//! then run, string by string.
//!
//! Invariants: a string in which no rule matches is left byte for byte;
//! scrubbing a scrubbed event changes nothing (a match that is already a
//! `[redacted:…]` marker is left as it is).

mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::rules::{BUILTINS, Builtin, luhn};
use super::Event;
use crate::error::Error;

/// The `details` key where an event records what was scrubbed from it.
pub const SCRUBBED_KEY: &str = "_scrubbed";
/// The built-in rule name that turns every built-in rule on.
pub const ALL: &str = "all";
/// Longest custom pattern, in bytes.
const MAX_CUSTOM_PATTERN: usize = 4096;
/// Most custom rules a log may have.
const MAX_CUSTOM_RULES: usize = 64;
/// Compiled size limit of one pattern (the regex crate's default is 10 MiB).
const MAX_COMPILED: usize = 2 << 20;
/// The pseudo-rule of the first pass's key-name pattern.
const KEY_NAMES: usize = usize::MAX;

/// A log's scrubbing rules, part of its policy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrubPolicy {
    /// Built-in rules that are on, by name ([`BUILTINS`]); `all` for every
    /// one of them.
    pub builtin: Vec<String>,
    /// Rules of the log's own.
    pub custom: Vec<CustomRule>,
}

/// A named pattern of a log's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Its name in `[redacted:<name>]`: lowercase letters, digits and `_`,
    /// not a built-in rule's.
    pub name: String,
    /// A regular expression (the `regex` crate's syntax); its group `s`,
    /// if it has one, is what gets replaced, otherwise the whole match.
    pub pattern: String,
}

/// One compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    regexes: Vec<Regex>,
    check: Option<fn(&str) -> bool>,
}

/// A compiled [`ScrubPolicy`].
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    rules: Vec<Rule>,
    /// Every pattern of every rule, for the first pass.
    set: Option<RegexSet>,
    /// The rule of each pattern of `set` ([`KEY_NAMES`] for the
    /// secret-looking key names).
    rule_of: Vec<usize>,
    /// Secret-looking `details` keys, when `key_value` is on.
    secret_key: Option<Regex>,
}

/// What scrubbing one event did: matches replaced, by rule.
pub type Fired = BTreeMap<String, u64>;

impl Scrubber {
    /// Compiles `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the rule at fault
    /// (`policy.scrub.builtin[i]`, `policy.scrub.custom[i].name`,
    /// `policy.scrub.custom[i].pattern`).
    pub fn new(policy: &ScrubPolicy) -> Result<Scrubber, Error> {
        let mut rules = Vec::new();
        let all = policy.builtin.iter().any(|b| b == ALL);
        for (i, name) in policy.builtin.iter().enumerate() {
            if name != ALL && !BUILTINS.iter().any(|b| b.name == name) {
                return Err(Error::invalid(
                    format!("policy.scrub.builtin[{i}]"),
                    format!(
                        "`{name}` is not a built-in rule; they are {}, or `all`",
                        BUILTINS
                            .iter()
                            .map(|b| b.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        for builtin in BUILTINS {
            if all || policy.builtin.iter().any(|b| b == builtin.name) {
                let regexes = builtin
                    .patterns
                    .iter()
                    .map(|p| compile(&p.replace("{SECRET}", rules::SECRET_NAMES)))
                    .collect::<Result<_, _>>()
                    .expect("built-in patterns compile");
                rules.push(Rule {
                    name: builtin.name.to_string(),
                    regexes,
                    check: builtin.check,
                });
            }
        }
        if policy.custom.len() > MAX_CUSTOM_RULES {
            return Err(Error::invalid(
                "policy.scrub.custom",
                format!("{} rules; at most {MAX_CUSTOM_RULES}", policy.custom.len()),
            ));
        }
        for (i, custom) in policy.custom.iter().enumerate() {
            let name_ok = !custom.name.is_empty()
                && custom.name.len() <= 64
                && custom
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(Error::invalid(
                    format!("policy.scrub.custom[{i}].name"),
                    format!(
                        "`{}` must be 1 to 64 lowercase letters, digits and `_`",
                        custom.name
                    ),
                ));
            }
            if custom.name == ALL
                || BUILTINS.iter().any(|b| b.name == custom.name)
                || policy.custom[..i].iter().any(|c| c.name == custom.name)
            {
                return Err(Error::invalid(
                    format!("policy.scrub.custom[{i}].name"),
                    format!("`{}` is already the name of a rule", custom.name),
                ));
            }
            if custom.pattern.len() > MAX_CUSTOM_PATTERN {
                return Err(Error::invalid(
                    format!("policy.scrub.custom[{i}].pattern"),
                    format!(
                        "{} bytes; at most {MAX_CUSTOM_PATTERN}",
                        custom.pattern.len()
                    ),
                ));
            }
            let regex = compile(&custom.pattern).map_err(|e| {
                Error::invalid(format!("policy.scrub.custom[{i}].pattern"), e.to_string())
            })?;
            if regex.is_match("") {
                return Err(Error::invalid(
                    format!("policy.scrub.custom[{i}].pattern"),
                    "matches the empty string, so it would match everywhere",
                ));
            }
            rules.push(Rule {
                name: custom.name.clone(),
                regexes: vec![regex],
                check: None,
            });
        }
        let secret_key = rules.iter().any(|r| r.name == "key_value").then(|| {
            compile(&format!(r"(?i)(?:^|[_-]){}$", rules::SECRET_KEYS)).expect("compiles")
        });
        let key_line = format!(r"(?im)(?:^|[_-]){}$", rules::SECRET_KEYS);
        let mut patterns: Vec<(usize, &str)> = rules
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.regexes.iter().map(move |re| (i, re.as_str())))
            .collect();
        // Last: a line that is a secret-looking key, so that `details` keys
        // are only looked at when one may be.
        if secret_key.is_some() {
            patterns.push((KEY_NAMES, key_line.as_str()));
        }
        let set = if patterns.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(patterns.iter().map(|(_, p)| p))
                    .size_limit(MAX_COMPILED * patterns.len())
                    .build()
                    .map_err(|e| Error::invalid("policy.scrub", e.to_string()))?,
            )
        };
        Ok(Scrubber {
            rule_of: patterns.iter().map(|(i, _)| *i).collect(),
            rules,
            set,
            secret_key,
        })
    }

    /// Whether no rule is on.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Scrubs every scanned string of `event` in place, records what fired
    /// in `details._scrubbed`, and returns it.
    pub fn apply(&self, event: &mut Event) -> Fired {
        let mut fired = Fired::new();
        if self.is_empty() {
            return fired;
        }
        if let Some(details) = &mut event.details {
            details.remove(SCRUBBED_KEY);
        }
        let (rules, keys) = self.matching(&joined(event));
        if rules.is_empty() && !keys {
            return fired;
        }
        for text in scanned(event) {
            if let Some(clean) = self.scrub_with(&rules, text, &mut fired) {
                *text = clean;
            }
        }
        if let Some(details) = &mut event.details {
            self.scrub_map(&rules, keys, details, &mut fired);
            if !fired.is_empty() {
                details.insert(SCRUBBED_KEY.into(), marker(&fired));
            }
        } else if !fired.is_empty() {
            let mut details = Map::new();
            details.insert(SCRUBBED_KEY.into(), marker(&fired));
            event.details = Some(details);
        }
        fired
    }

    /// `text` scrubbed, or `None` when no rule changed it.
    #[must_use]
    pub fn scrub_str(&self, text: &str, fired: &mut Fired) -> Option<String> {
        let (rules, _) = self.matching(text);
        self.scrub_with(&rules, text, fired)
    }

    /// The rules with a pattern matching somewhere in `text`, and whether
    /// a line of it may be a secret-looking `details` key.
    fn matching(&self, text: &str) -> (Vec<usize>, bool) {
        let Some(set) = &self.set else {
            return (Vec::new(), false);
        };
        let mut rules: Vec<usize> = set.matches(text).iter().map(|p| self.rule_of[p]).collect();
        let keys = rules.last() == Some(&KEY_NAMES);
        if keys {
            rules.pop();
        }
        rules.dedup();
        (rules, keys)
    }

    /// Runs `rules` over `text` in order; `None` when nothing changed.
    fn scrub_with(&self, rules: &[usize], text: &str, fired: &mut Fired) -> Option<String> {
        let mut current: Option<String> = None;
        for &i in rules {
            let rule = &self.rules[i];
            for regex in &rule.regexes {
                let source = current.as_deref().unwrap_or(text);
                if let Some(clean) = replace(rule, regex, source, fired) {
                    current = Some(clean);
                }
            }
        }
        current
    }

    /// Scrubs `map`'s keys (renamed only when a rule matches one) and
    /// values; with `keys`, a string under a secret-looking key is replaced
    /// whole.
    fn scrub_map(
        &self,
        rules: &[usize],
        keys: bool,
        map: &mut Map<String, Value>,
        fired: &mut Fired,
    ) {
        if !rules.is_empty() {
            let renamed: Vec<(String, String)> = map
                .keys()
                .filter_map(|k| {
                    self.scrub_with(rules, k, fired)
                        .map(|clean| (k.clone(), clean))
                })
                .collect();
            for (old, new) in renamed {
                if let Some(value) = map.remove(&old) {
                    map.insert(new, value);
                }
            }
        }
        for (key, value) in map.iter_mut() {
            let secret_name = keys && self.secret_key.as_ref().is_some_and(|k| k.is_match(key));
            match value {
                Value::String(s) if secret_name && !s.is_empty() && !is_marker(s) => {
                    *s = redacted("key_value");
                    *fired.entry("key_value".into()).or_default() += 1;
                }
                _ => self.scrub_value(rules, keys, value, fired),
            }
        }
    }

    fn scrub_value(&self, rules: &[usize], keys: bool, value: &mut Value, fired: &mut Fired) {
        match value {
            Value::String(s) => {
                if let Some(clean) = self.scrub_with(rules, s, fired) {
                    *s = clean;
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.scrub_value(rules, keys, item, fired);
                }
            }
            Value::Object(map) => self.scrub_map(rules, keys, map, fired),
            _ => {}
        }
    }
}

/// `text` with every match of `regex` that passes the rule's check (its
/// group `s`, or the whole match) replaced; `None` when none was.
fn replace(rule: &Rule, regex: &Regex, text: &str, fired: &mut Fired) -> Option<String> {
    let markers = marker_spans(text);
    let mut out = String::new();
    let mut last = 0;
    let mut count = 0u64;
    for caps in regex.captures_iter(text) {
        let Some(secret) = caps.name("s").or_else(|| caps.get(0)) else {
            continue;
        };
        if secret.as_str().is_empty()
            || markers
                .iter()
                .any(|m| secret.start() < m.end && m.start < secret.end())
            || rule.check.is_some_and(|check| !check(secret.as_str()))
        {
            continue;
        }
        out.push_str(&text[last..secret.start()]);
        out.push_str(&redacted(&rule.name));
        last = secret.end();
        count += 1;
    }
    if count == 0 {
        return None;
    }
    out.push_str(&text[last..]);
    *fired.entry(rule.name.clone()).or_default() += count;
    Some(out)
}

fn redacted(rule: &str) -> String {
    format!("[redacted:{rule}]")
}

/// Where `text` holds scrubbing markers (`[redacted:<rule>]`): a match
/// overlapping one is left alone, so scrubbing twice changes nothing.
fn marker_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("[redacted:") {
        let start = from + at;
        let end = text[start..]
            .find(']')
            .map_or(text.len(), |e| start + e + 1);
        spans.push(start..end);
        from = end;
    }
    spans
}

/// Whether `text` starts with a scrubbing marker.
fn is_marker(text: &str) -> bool {
    text.starts_with("[redacted:")
}

fn marker(fired: &Fired) -> Value {
    serde_json::json!({
        "rules": fired.keys().collect::<Vec<_>>(),
        "counts": fired,
    })
}

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).size_limit(MAX_COMPILED).build()
}

/// The event's scanned free-text fields (see the module's doc).
fn scanned(event: &mut Event) -> [&mut String; 5] {
    [
        &mut event.message,
        &mut event.reason,
        &mut event.actor.display_name,
        &mut event.actor.user_agent,
        &mut event.resource.name,
    ]
}

/// Every scanned string of `event`, `details` keys included, joined by
/// newlines for the first pass (mutable only to reach [`scanned`]).
fn joined(event: &mut Event) -> String {
    let mut joined = String::with_capacity(1024);
    for text in scanned(event) {
        joined.push_str(text);
        joined.push('\n');
    }
    if let Some(details) = &event.details {
        join_strings(details, &mut joined);
    }
    joined
}

/// Appends every key and string of `map`, each followed by a newline.
fn join_strings(map: &Map<String, Value>, out: &mut String) {
    for (key, value) in map {
        out.push_str(key);
        out.push('\n');
        join_value(value, out);
    }
}

fn join_value(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|v| join_value(v, out)),
        Value::Object(map) => join_strings(map, out),
        _ => {}
    }
}
