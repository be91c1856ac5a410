//! Conversions of a log's scrubbing rules to and from their protobuf
//! message. Nothing here checks a rule: the engine compiles and checks them
//! (`stele_engine::event::scrub::Scrubber::new`), naming the one at fault.

use stele_engine::event::scrub::{CustomRule, ScrubPolicy};
use stele_proto::v1;

/// The engine's rules from the wire form.
pub fn scrub_policy_from_proto(p: Option<v1::ScrubPolicy>) -> ScrubPolicy {
    let p = p.unwrap_or_default();
    ScrubPolicy {
        builtin: p.builtin,
        custom: p
            .custom
            .into_iter()
            .map(|r| CustomRule {
                name: r.name,
                pattern: r.pattern,
            })
            .collect(),
    }
}

/// The wire form of the engine's rules.
pub fn scrub_policy_to_proto(p: &ScrubPolicy) -> v1::ScrubPolicy {
    v1::ScrubPolicy {
        builtin: p.builtin.clone(),
        custom: p
            .custom
            .iter()
            .map(|r| v1::ScrubRule {
                name: r.name.clone(),
                pattern: r.pattern.clone(),
            })
            .collect(),
    }
}
