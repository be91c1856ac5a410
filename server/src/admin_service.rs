//! The `stele.v1.Admin` service: logs, segments, sealing.
//!
//! Every call needs the `admin` role and is recorded in `_system` with its
//! outcome, before the answer is sent ([`crate::audit`]).

use std::path::Path;
use std::sync::Arc;

use stele_engine::Log;
use stele_proto::v1::{self, admin_server::Admin};
use tonic::{Request, Response, Status};

use crate::auth::Role;
use crate::context::{Context, Session};
use crate::convert::{policy_from_proto, policy_to_proto, segment_to_proto};
use crate::status::blocking;

/// The `Admin` service.
#[derive(Debug, Clone)]
pub struct AdminService {
    ctx: Context,
}

impl AdminService {
    /// A service over the shared context.
    pub fn new(ctx: Context) -> AdminService {
        AdminService { ctx }
    }

    /// Records the call and its outcome in `_system`, then returns the
    /// outcome.
    async fn recorded<T>(
        &self,
        session: &Session,
        log: Option<&str>,
        result: Result<T, Status>,
    ) -> Result<T, Status> {
        let outcome = result.as_ref().map(|_| ());
        self.ctx
            .audit
            .admin_call(&session.caller, session.method, log, outcome)
            .await?;
        result
    }
}

/// A log's facts. Reads files: call it on the blocking pool.
fn log_info(log: &Log) -> stele_engine::Result<v1::LogInfo> {
    let head = log.head()?;
    let segments = log.segments();
    Ok(v1::LogInfo {
        name: log.name().to_string(),
        log_id: log.log_id().to_vec(),
        policy: Some(policy_to_proto(log.policy())),
        first_seq: head.first_seq,
        next_seq: head.next_seq,
        head: head.chain_hash.to_vec(),
        records: head.next_seq - head.first_seq,
        segment_bytes: segments.iter().map(|s| s.file_bytes).sum(),
        index_bytes: dir_bytes(&log.dir().join("index")),
        segments: u32::try_from(segments.len()).unwrap_or(u32::MAX),
        index_watermark: log.index_watermark(),
    })
}

/// Bytes of the files under `dir` (0 when it is missing).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn create_log(
        &self,
        request: Request<v1::CreateLogRequest>,
    ) -> Result<Response<v1::LogInfo>, Status> {
        let name = request.get_ref().name.clone();
        let session = self
            .ctx
            .admit(&request, "CreateLog", Role::Admin, Some(&name))?;
        let policy = request.into_inner().policy;
        let store = self.ctx.store.clone();
        let result = async {
            let policy = policy_from_proto(policy)?;
            let name = name.clone();
            blocking(move || log_info(&*store.create_log(&name, policy)?)).await
        }
        .await;
        let info = self.recorded(&session, Some(&name), result).await?;
        tracing::info!(log = %name, by = %session.caller.name, "log created");
        Ok(Response::new(info))
    }

    async fn list_logs(
        &self,
        request: Request<v1::ListLogsRequest>,
    ) -> Result<Response<v1::ListLogsResponse>, Status> {
        let session = self.ctx.admit(&request, "ListLogs", Role::Admin, None)?;
        let store = self.ctx.store.clone();
        let principal = session.principal.clone();
        let result = blocking(move || {
            store
                .list_logs()?
                .into_iter()
                .filter(|name| principal.may_see(name))
                .map(|name| log_info(&*store.log(&name)?))
                .collect::<stele_engine::Result<Vec<_>>>()
        })
        .await;
        let logs = self.recorded(&session, None, result).await?;
        Ok(Response::new(v1::ListLogsResponse { logs }))
    }

    async fn get_log(
        &self,
        request: Request<v1::GetLogRequest>,
    ) -> Result<Response<v1::LogInfo>, Status> {
        let name = request.get_ref().name.clone();
        let session = self
            .ctx
            .admit(&request, "GetLog", Role::Admin, Some(&name))?;
        let result = async {
            let log = self.ctx.log(&name).await?;
            blocking(move || log_info(&log)).await
        }
        .await;
        Ok(Response::new(
            self.recorded(&session, Some(&name), result).await?,
        ))
    }

    async fn list_segments(
        &self,
        request: Request<v1::ListSegmentsRequest>,
    ) -> Result<Response<v1::ListSegmentsResponse>, Status> {
        let name = request.get_ref().log.clone();
        let session = self
            .ctx
            .admit(&request, "ListSegments", Role::Admin, Some(&name))?;
        let result = self
            .ctx
            .log(&name)
            .await
            .map(|log: Arc<Log>| log.segments().iter().map(segment_to_proto).collect());
        let segments = self.recorded(&session, Some(&name), result).await?;
        Ok(Response::new(v1::ListSegmentsResponse { segments }))
    }

    async fn seal(
        &self,
        request: Request<v1::SealRequest>,
    ) -> Result<Response<v1::SealResponse>, Status> {
        let name = request.get_ref().log.clone();
        let session = self.ctx.admit(&request, "Seal", Role::Admin, Some(&name))?;
        let result = async {
            let log = self.ctx.log(&name).await?;
            blocking(move || {
                // The sealed segment as it stands now (sealed, not sealing).
                Ok(log.seal()?.map(|sealed| {
                    let now = log
                        .segments()
                        .into_iter()
                        .find(|s| s.first_seq == sealed.first_seq);
                    segment_to_proto(&now.unwrap_or(sealed))
                }))
            })
            .await
        }
        .await;
        let sealed = self.recorded(&session, Some(&name), result).await?;
        Ok(Response::new(v1::SealResponse { sealed }))
    }
}
