//! What a log costs on disk once sealed: the run's last step when asked
//! for (`--sizes`). It seals the log's active segment (`Admin.Seal`), waits
//! until no segment is being sealed and every record is indexed, then reads
//! the log's segment and index bytes (`Admin.GetLog`). Needs the admin role.

use std::time::Duration;

use stele_proto::v1::{GetLogRequest, ListSegmentsRequest, SealRequest, SegmentState};
use tokio::time::{Instant, sleep, timeout};

use super::connect::AdminApi;
use super::{ANSWER_TIMEOUT, status_text};

/// How long sealing and indexing may take after the seal is asked for.
const SETTLE_WITHIN: Duration = Duration::from_secs(600);
/// Time between two looks at the log.
const POLL: Duration = Duration::from_millis(200);

/// A log's bytes on disk once every segment is sealed and indexed.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Records stored.
    pub records: u64,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of the search index.
    pub index_bytes: u64,
    /// From the seal request until sealed and indexed.
    pub settle: Duration,
}

impl Sizes {
    /// Segment bytes per record.
    pub fn segment_per_record(&self) -> f64 {
        self.segment_bytes as f64 / self.records.max(1) as f64
    }

    /// Index bytes per record.
    pub fn index_per_record(&self) -> f64 {
        self.index_bytes as f64 / self.records.max(1) as f64
    }
}

/// Seals `log` and returns its sizes once sealed and indexed.
pub async fn after_sealing(admin: &mut AdminApi, log: &str) -> Result<Sizes, String> {
    let start = Instant::now();
    let answer = |what: &str| format!("{what} not answered within {} s", ANSWER_TIMEOUT.as_secs());
    timeout(
        ANSWER_TIMEOUT,
        admin.seal(SealRequest {
            log: log.to_string(),
        }),
    )
    .await
    .map_err(|_| answer("Seal"))?
    .map_err(|status| format!("cannot seal `{log}`: {}", status_text(&status)))?;
    loop {
        let segments = timeout(
            ANSWER_TIMEOUT,
            admin.list_segments(ListSegmentsRequest {
                log: log.to_string(),
            }),
        )
        .await
        .map_err(|_| answer("ListSegments"))?
        .map_err(|status| format!("cannot list segments: {}", status_text(&status)))?
        .into_inner()
        .segments;
        let info = timeout(
            ANSWER_TIMEOUT,
            admin.get_log(GetLogRequest {
                name: log.to_string(),
            }),
        )
        .await
        .map_err(|_| answer("GetLog"))?
        .map_err(|status| format!("cannot describe `{log}`: {}", status_text(&status)))?
        .into_inner();
        let sealing = segments
            .iter()
            .any(|s| s.state == SegmentState::Sealing as i32);
        if !sealing && info.index_watermark >= info.next_seq {
            return Ok(Sizes {
                records: info.records,
                segment_bytes: info.segment_bytes,
                index_bytes: info.index_bytes,
                settle: start.elapsed(),
            });
        }
        if start.elapsed() > SETTLE_WITHIN {
            return Err(format!(
                "`{log}` not sealed and indexed {} s after the seal (index watermark {} of {})",
                SETTLE_WITHIN.as_secs(),
                info.index_watermark,
                info.next_seq
            ));
        }
        sleep(POLL).await;
    }
}
