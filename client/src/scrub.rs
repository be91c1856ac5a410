//! A log's scrubbing rules (`docs/scrubbing.md`): replacing them, and trying
//! them (or rules not yet set) on sample events without storing anything.

use std::collections::BTreeMap;

use stele_proto::v1;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::event::Event;

/// One sample event as scrubbing would store it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrubbed {
    /// The event after scrubbing.
    pub event: Event,
    /// Matches replaced, by rule; empty when nothing was.
    pub fired: BTreeMap<String, u64>,
}

impl Client {
    /// Replaces `log`'s scrubbing rules; returns the rules now in force.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` naming the rule at fault (`policy.scrub.custom[0].pattern`).
    pub async fn set_scrub(&self, log: &str, rules: v1::ScrubPolicy) -> Result<v1::ScrubPolicy> {
        Ok(self
            .admin_rpc()
            .set_scrub(v1::SetScrubRequest {
                log: log.to_string(),
                scrub: Some(rules),
            })
            .await?
            .into_inner())
    }

    /// What `log`'s scrubbing rules, or `rules` when given, would store for
    /// each of `events`. Nothing is stored.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` naming an event's field or a rule at fault.
    pub async fn test_scrub(
        &self,
        log: &str,
        events: &[Event],
        rules: Option<v1::ScrubPolicy>,
    ) -> Result<Vec<Scrubbed>> {
        let answer = self
            .admin_rpc()
            .test_scrub(v1::TestScrubRequest {
                log: log.to_string(),
                events: events.iter().map(Event::to_proto).collect(),
                scrub: rules,
            })
            .await?
            .into_inner();
        answer
            .events
            .into_iter()
            .map(|e| {
                let event = e.event.ok_or_else(|| {
                    Error::Protocol("TestScrub answered an event without its event".into())
                })?;
                Ok(Scrubbed {
                    event: Event::from_proto(event)?,
                    fired: e.fired.into_iter().collect(),
                })
            })
            .collect()
    }
}
