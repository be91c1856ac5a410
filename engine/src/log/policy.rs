//! A log's policy: durability, when to seal, how to compress, what to
//! sanitise and scrub, and the event limits. Stored in the log's manifest.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::event::sanitize::Sanitizer;
use crate::event::scrub::{ScrubPolicy, Scrubber};
use crate::event::validate::Limits;
use crate::segment::SealOptions;

/// When an append is acknowledged relative to fsync.
///
/// Written as `always`, `interval:<ms>` or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// fdatasync before every acknowledgement; concurrent appends share one
    /// sync (group commit).
    #[default]
    Always,
    /// Acknowledge after the write; a background fdatasync runs this often.
    Interval(Duration),
    /// Acknowledge after the write; never fsync (the OS writes back when it
    /// likes). A process crash loses nothing; a power loss may.
    Never,
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Interval(d) => write!(f, "interval:{}", d.as_millis()),
            FsyncPolicy::Never => f.write_str("never"),
        }
    }
}

impl FromStr for FsyncPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<FsyncPolicy> {
        let bad = || {
            Error::invalid(
                "policy.fsync",
                format!("`{s}` is not `always`, `interval:<ms>` (ms ≥ 1) or `never`"),
            )
        };
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            _ => {
                let ms: u64 = s
                    .strip_prefix("interval:")
                    .and_then(|ms| ms.parse().ok())
                    .filter(|ms| *ms >= 1)
                    .ok_or_else(bad)?;
                Ok(FsyncPolicy::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

impl Serialize for FsyncPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FsyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FsyncPolicy, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// When the active segment is sealed (whichever comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SealPolicy {
    /// Size of the active segment's file, in bytes.
    pub max_bytes: u64,
    /// Records in the active segment.
    pub max_records: u64,
    /// Age of the active segment's oldest record, in milliseconds.
    pub max_age_ms: u64,
}

impl Default for SealPolicy {
    fn default() -> Self {
        SealPolicy {
            max_bytes: 128 << 20,
            max_records: 1_000_000,
            max_age_ms: 60 * 60 * 1000,
        }
    }
}

/// How the log's search index keeps up with appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexPolicy {
    /// The active segment's index is committed (made searchable) at least
    /// this often while records wait to be indexed, in milliseconds; a
    /// quarter of it after the last commit once the index has caught up
    /// with the head.
    pub commit_interval_ms: u64,
    /// Records the index may lag behind the visible head before appends wait
    /// (for at most one commit) for it to catch up.
    pub max_lag_records: u64,
}

impl Default for IndexPolicy {
    fn default() -> Self {
        IndexPolicy {
            commit_interval_ms: 1000,
            max_lag_records: 100_000,
        }
    }
}

/// How long a log keeps its sealed segments in local storage
/// (see `docs/retention.md`). Changed through [`crate::Log::set_retention`]
/// and [`crate::Log::raise_lock`] after creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Sealed segments whose newest record was ingested longer ago than this
    /// leave local storage, in milliseconds. `None`: kept regardless of age.
    pub max_age_ms: Option<u64>,
    /// The oldest sealed segments leave local storage while the log's
    /// segment files add up to more than this. `None`: no size limit.
    pub max_bytes: Option<u64>,
    /// Retention lock: no segment leaves local storage before its newest
    /// record is this old, in milliseconds, whatever anyone asks. It can be
    /// raised, never lowered or removed.
    pub lock_ms: Option<u64>,
}

/// Everything configurable about one log.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Durability of acknowledgements.
    pub fsync: FsyncPolicy,
    /// When to seal.
    pub seal: SealPolicy,
    /// How sealed segments are compressed.
    pub compression: SealOptions,
    /// Field paths replaced by `"[redacted]"` before storing.
    pub sanitize: Vec<String>,
    /// Secrets found by pattern and replaced by `[redacted:<rule>]` before
    /// storing (`docs/scrubbing.md`). Changed with [`crate::Log::set_scrub`].
    pub scrub: ScrubPolicy,
    /// Event size limits.
    pub limits: Limits,
    /// Search index freshness.
    pub index: IndexPolicy,
    /// How long sealed segments stay in local storage.
    pub retention: RetentionPolicy,
}

impl Policy {
    /// Checks every setting and compiles the sanitiser and the scrubber.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the setting.
    pub fn validate(&self) -> Result<(Sanitizer, Scrubber)> {
        let positive = |what: &str, v: u64| {
            if v == 0 {
                Err(Error::invalid(what, "must be greater than 0"))
            } else {
                Ok(())
            }
        };
        positive("policy.seal.max_bytes", self.seal.max_bytes)?;
        positive("policy.seal.max_records", self.seal.max_records)?;
        positive("policy.seal.max_age_ms", self.seal.max_age_ms)?;
        positive(
            "policy.index.commit_interval_ms",
            self.index.commit_interval_ms,
        )?;
        positive("policy.index.max_lag_records", self.index.max_lag_records)?;
        for (what, value) in [
            ("policy.retention.max_age_ms", self.retention.max_age_ms),
            ("policy.retention.max_bytes", self.retention.max_bytes),
            ("policy.retention.lock_ms", self.retention.lock_ms),
        ] {
            if let Some(v) = value {
                positive(what, v)?;
            }
        }
        if !(4 << 10..=64 << 20).contains(&self.compression.block_bytes) {
            return Err(Error::invalid(
                "policy.compression.block_bytes",
                "must be between 4 KiB and 64 MiB",
            ));
        }
        if self.compression.dictionary_bytes > 4 << 20 {
            return Err(Error::invalid(
                "policy.compression.dictionary_bytes",
                "must be at most 4 MiB",
            ));
        }
        if !(1..=22).contains(&self.compression.zstd_level) {
            return Err(Error::invalid(
                "policy.compression.zstd_level",
                "must be between 1 and 22",
            ));
        }
        positive(
            "policy.limits.max_body_bytes",
            self.limits.max_body_bytes as u64,
        )?;
        positive(
            "policy.limits.max_string_bytes",
            self.limits.max_string_bytes as u64,
        )?;
        positive(
            "policy.limits.max_details_depth",
            self.limits.max_details_depth as u64,
        )?;
        positive(
            "policy.limits.max_batch_events",
            self.limits.max_batch_events as u64,
        )?;
        if self.limits.max_body_bytes > 16 << 20 {
            return Err(Error::invalid(
                "policy.limits.max_body_bytes",
                "must be at most 16 MiB",
            ));
        }
        Ok((Sanitizer::new(&self.sanitize)?, Scrubber::new(&self.scrub)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policy_parses_and_prints() {
        for s in ["always", "never", "interval:250"] {
            assert_eq!(s.parse::<FsyncPolicy>().unwrap().to_string(), s);
        }
        for s in ["", "sometimes", "interval:", "interval:0", "interval:x"] {
            assert!(s.parse::<FsyncPolicy>().is_err(), "{s}");
        }
    }

    #[test]
    fn validation_names_the_setting() {
        let mut p = Policy::default();
        p.validate().unwrap();
        p.compression.zstd_level = 40;
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("policy.compression.zstd_level"), "{err}");
        let p = Policy {
            sanitize: vec!["nope".into()],
            ..Policy::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("policy.sanitize")
        );
    }

    #[test]
    fn policy_json_uses_readable_fsync_strings() {
        let p = Policy {
            fsync: FsyncPolicy::Interval(Duration::from_millis(20)),
            ..Policy::default()
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["fsync"], "interval:20");
        let back: Policy = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}
