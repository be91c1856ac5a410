//! One subscriber: a `Subscribe` from the head (`from_now`), without
//! filters, opened before the first append, and followed until it has
//! delivered every record the appenders were acknowledged.
//!
//! Its lag per record is the time it arrived minus the `sent_ns` stamp that
//! the appender put in the event's details (see [`super::convert`]); both
//! are this process's clock. Records without the stamp (appended by someone
//! else, or redacted) are counted as foreign and have no lag.
//!
//! Seq checks: with no filter every record is delivered, so seqs must go up
//! by exactly one. A jump is a gap (the seqs jumped over are missing), a seq
//! not above the previous one is out of order; and since the subscription
//! was opened before the first append, every seq the appenders were
//! acknowledged must be delivered: those before the first delivered are a
//! gap too, and those after the last one delivered when the run ended are
//! counted as behind ([`SubscribeStats::settle`]).

use std::sync::Arc;

use hdrhistogram::Histogram;
use stele_proto::v1::subscribe_request::Start;
use stele_proto::v1::subscribe_response::Item;
use stele_proto::v1::{Record, SubscribeRequest, SubscribeResponse};
use tokio::sync::watch;
use tokio::time::timeout;
use tonic::codec::Streaming;

use super::connect::SteleApi;
use super::convert::{sent_ns, unix_ns};
use super::{ANSWER_TIMEOUT, ErrorPrinter, Phase, histogram, status_text};

/// What one subscriber saw.
#[derive(Debug)]
pub struct SubscribeStats {
    /// Lag of each stamped record, in microseconds.
    pub lag_us: Histogram<u64>,
    /// Records delivered.
    pub records: u64,
    /// Records delivered without a send stamp.
    pub foreign: u64,
    /// First and last seq delivered.
    pub seqs: Option<(u64, u64)>,
    /// Places where seqs jumped, or where acknowledged seqs before the
    /// first one delivered were not.
    pub gaps: u64,
    /// Seqs in those gaps.
    pub missing: u64,
    /// Acknowledged seqs after the last one delivered when the run ended.
    pub behind: u64,
    /// Records whose seq was not above the previous one.
    pub out_of_order: u64,
    /// Failed calls or streams.
    pub errors: u64,
}

impl SubscribeStats {
    /// Nothing yet.
    pub fn new() -> SubscribeStats {
        SubscribeStats {
            lag_us: histogram(),
            records: 0,
            foreign: 0,
            seqs: None,
            gaps: 0,
            missing: 0,
            behind: 0,
            out_of_order: 0,
            errors: 0,
        }
    }

    /// What went wrong, as a count: failed streams, gaps, records out of
    /// order, and one more when acknowledged seqs were not delivered by the
    /// end.
    pub fn faults(&self) -> u64 {
        self.errors + self.gaps + self.out_of_order + u64::from(self.behind > 0)
    }

    /// Counts one delivered record, received at `now_ns`.
    fn record(&mut self, record: &Record, now_ns: i64) {
        self.records += 1;
        match record.event.as_ref().and_then(|e| sent_ns(&e.details_json)) {
            Some(sent) => {
                let lag_us = now_ns.saturating_sub(sent).max(0) / 1_000;
                self.lag_us.saturating_record(lag_us.unsigned_abs());
            }
            None => self.foreign += 1,
        }
        let seq = record.seq;
        self.seqs = match self.seqs {
            None => Some((seq, seq)),
            Some((first, last)) if seq > last => {
                if seq > last + 1 {
                    self.gaps += 1;
                    self.missing += seq - last - 1;
                }
                Some((first, seq))
            }
            Some(seqs) => {
                self.out_of_order += 1;
                Some(seqs)
            }
        };
    }

    /// Checks the delivered seqs against the acknowledged ones (`acked`,
    /// lowest and highest): those below the first delivered are a gap,
    /// those above the last delivered are behind.
    pub fn settle(&mut self, acked: Option<(u64, u64)>) {
        let Some((low, high)) = acked else {
            return;
        };
        match self.seqs {
            None => self.behind += high - low + 1,
            Some((first, last)) => {
                if first > low {
                    self.gaps += 1;
                    self.missing += first.min(high + 1) - low;
                }
                if last < high {
                    self.behind += high - last.max(low.saturating_sub(1));
                }
            }
        }
    }
}

impl Default for SubscribeStats {
    fn default() -> SubscribeStats {
        SubscribeStats::new()
    }
}

/// Opens a subscription to `log` from its head, with no filter.
pub async fn open(
    client: &mut SteleApi,
    log: &str,
) -> Result<Streaming<SubscribeResponse>, String> {
    let request = SubscribeRequest {
        log: log.to_string(),
        start: Some(Start::FromNow(true)),
        selection: None,
        heartbeat_ms: 0,
        include_body: false,
    };
    match timeout(ANSWER_TIMEOUT, client.subscribe(request)).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(format!("Subscribe refused: {}", status_text(&status))),
        Err(_) => Err(format!(
            "Subscribe not answered within {} s",
            ANSWER_TIMEOUT.as_secs()
        )),
    }
}

/// Follows `stream` until it has delivered every seq below the
/// [`Phase::Draining`] target, the phase becomes [`Phase::Stopped`], or
/// the stream fails.
pub async fn follow(
    mut stream: Streaming<SubscribeResponse>,
    mut phase: watch::Receiver<Phase>,
    errors: Arc<ErrorPrinter>,
) -> SubscribeStats {
    let mut stats = SubscribeStats::new();
    // Every seq below this was delivered or, by a heartbeat, examined.
    let mut examined = 0u64;
    loop {
        let target = match *phase.borrow_and_update() {
            Phase::Appending => None,
            Phase::Draining { next_seq } => Some(next_seq),
            Phase::Stopped => break,
        };
        if target.is_some_and(|target| examined >= target) {
            break;
        }
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            message = stream.message() => match message {
                Ok(Some(SubscribeResponse { item: Some(Item::Record(record)) })) => {
                    stats.record(&record, unix_ns());
                    examined = examined.max(record.seq + 1);
                }
                Ok(Some(SubscribeResponse { item: Some(Item::Heartbeat(beat)) })) => {
                    examined = examined.max(beat.resume_seq);
                }
                Ok(Some(SubscribeResponse { item: None })) => {}
                Ok(None) => {
                    stats.errors += 1;
                    errors.report("subscribe", "the server ended the subscription");
                    break;
                }
                Err(status) => {
                    stats.errors += 1;
                    errors.report("subscribe", &format!("stream failed: {}", status_text(&status)));
                    break;
                }
            },
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use stele_proto::v1::Event;

    use super::*;

    fn record(seq: u64, details_json: &str) -> Record {
        Record {
            seq,
            event: Some(Event {
                details_json: details_json.to_string(),
                ..Event::default()
            }),
            ..Record::default()
        }
    }

    #[test]
    fn lag_is_arrival_minus_the_stamp() {
        let mut stats = SubscribeStats::new();
        stats.record(&record(0, r#"{"sent_ns":1000000,"x":1}"#), 4_000_000);
        stats.record(&record(1, r#"{"x":1}"#), 4_000_000);
        assert_eq!(stats.records, 2);
        assert_eq!(stats.foreign, 1);
        assert_eq!(stats.lag_us.len(), 1);
        assert!(stats.lag_us.equivalent(stats.lag_us.max(), 3_000));
    }

    #[test]
    fn jumps_and_disorder_are_counted() {
        let mut stats = SubscribeStats::new();
        for seq in [5, 6, 9, 9, 7, 10] {
            stats.record(&record(seq, ""), 0);
        }
        assert_eq!(stats.seqs, Some((5, 10)));
        assert_eq!((stats.gaps, stats.missing, stats.out_of_order), (1, 2, 2));
    }

    #[test]
    fn acknowledged_seqs_outside_the_delivered_range_are_counted() {
        let mut stats = SubscribeStats::new();
        for seq in 12..=20 {
            stats.record(&record(seq, ""), 0);
        }
        stats.settle(Some((10, 25)));
        assert_eq!((stats.gaps, stats.missing, stats.behind), (1, 2, 5));

        let mut complete = SubscribeStats::new();
        for seq in 8..=30 {
            complete.record(&record(seq, ""), 0);
        }
        complete.settle(Some((10, 25)));
        assert_eq!(
            (complete.gaps, complete.missing, complete.behind),
            (0, 0, 0)
        );

        let mut nothing = SubscribeStats::new();
        nothing.settle(Some((10, 25)));
        assert_eq!((nothing.gaps, nothing.behind), (0, 16));
        nothing.settle(None);
        assert_eq!(nothing.behind, 16);
    }
}
