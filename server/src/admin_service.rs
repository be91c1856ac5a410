//! The `stele.v1.Admin` service: logs, segments, sealing here; retention,
//! archival, holds and the lock in [`crate::retention_service`]; compaction
//! and erasure in [`crate::rewrite_service`].
//!
//! Every call needs the `admin` role and is recorded in `_system` with its
//! outcome, before the answer is sent ([`recorded`], [`crate::audit`]).
//! Long calls run on the blocking pool and stream progress, then their
//! recorded outcome ([`long_call`]).

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use stele_engine::Log;
use stele_proto::v1::{self, admin_server::Admin};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::audit::Note;
use crate::auth::Role;
use crate::context::{Context, Session};
use crate::convert::{policy_from_proto, policy_to_proto, segment_to_proto};
use crate::status::blocking;
use crate::tokens::{MintSpec, MintedToken};
use crate::{calls, retention_service, rewrite_service, scrub_service};

/// A boxed response stream of a long call.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Facts a long call adds to its `_system` record once it has succeeded.
pub type Details = serde_json::Map<String, serde_json::Value>;

/// Records the call of `session` (on `log` if any), its outcome and `note`
/// in `_system`, then returns the outcome.
///
/// # Errors
/// The call's own error, or the error of writing its record: a call that
/// is not recorded does not succeed.
pub async fn recorded<T>(
    ctx: &Context,
    session: &Session,
    log: Option<&str>,
    result: Result<T, Status>,
    note: Note,
) -> Result<T, Status> {
    let outcome = result.as_ref().map(|_| ());
    ctx.audit
        .noted_admin_call(&session.caller, session.method, log, outcome, note)
        .await?;
    result
}

/// Runs a long admin call on `log`: `work` runs on the blocking pool and
/// sends progress messages through the function it is given; its outcome
/// is recorded in `_system` (with `note` and, on success, the details
/// `work` returns), then sent as the stream's last message or its error.
/// Progress a disconnected client can no longer receive is dropped; the
/// work still runs to its end and is recorded.
pub fn long_call<R, W>(
    ctx: &Context,
    session: Session,
    log: String,
    mut note: Note,
    work: W,
) -> ResponseStream<R>
where
    R: Send + 'static,
    W: FnOnce(&dyn Fn(R)) -> Result<(R, Details), Status> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let progress = tx.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            work(&|message| {
                let _ = progress.blocking_send(Ok(message));
            })
        })
        .await
        .unwrap_or_else(|join| {
            tracing::error!(error = %join, "blocking task failed");
            Err(Status::internal("the request's work failed unexpectedly"))
        });
        let outcome = outcome.map(|(last, details)| {
            note.details.extend(details);
            last
        });
        let last = recorded(&ctx, &session, Some(&log), outcome, note).await;
        let _ = tx.send(last).await;
    });
    Box::pin(ReceiverStream::new(rx))
}

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
        recorded(&self.ctx, session, log, result, Note::default()).await
    }
}

/// The protobuf form of a minted token (no secret).
fn token_to_proto(t: MintedToken) -> v1::TokenInfo {
    v1::TokenInfo {
        id: t.id,
        name: t.name,
        logs: t.logs,
        tenants: t.tenants,
        created_ns: t.created_ns,
        expires_ns: t.expires_ns,
        created_by: t.created_by,
    }
}

/// A log's facts. Reads files: call it on the blocking pool.
fn log_info(log: &Log) -> stele_engine::Result<v1::LogInfo> {
    let head = log.head()?;
    let segments = log.segments();
    Ok(v1::LogInfo {
        name: log.name().to_string(),
        log_id: log.log_id().to_vec(),
        policy: Some(policy_to_proto(&log.policy())),
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
    async fn mint_token(
        &self,
        request: Request<v1::MintTokenRequest>,
    ) -> Result<Response<v1::MintTokenResponse>, Status> {
        let session = self.ctx.admit(&request, "MintToken", Role::Admin, None)?;
        let req = request.into_inner();
        let spec = MintSpec {
            name: req.name,
            logs: req.logs,
            tenants: req.tenants,
            ttl: (req.ttl_ms > 0).then(|| std::time::Duration::from_millis(req.ttl_ms)),
        };
        let (token, secret) = calls::mint_token(&self.ctx, &session, spec).await?;
        Ok(Response::new(v1::MintTokenResponse {
            token: Some(token_to_proto(token)),
            secret,
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<v1::RevokeTokenRequest>,
    ) -> Result<Response<v1::TokenInfo>, Status> {
        let session = self.ctx.admit(&request, "RevokeToken", Role::Admin, None)?;
        let token = calls::revoke_token(&self.ctx, &session, &request.get_ref().id).await?;
        Ok(Response::new(token_to_proto(token)))
    }

    async fn list_tokens(
        &self,
        request: Request<v1::ListTokensRequest>,
    ) -> Result<Response<v1::ListTokensResponse>, Status> {
        let session = self.ctx.admit(&request, "ListTokens", Role::Admin, None)?;
        let tokens = calls::list_tokens(&self.ctx, &session).await?;
        Ok(Response::new(v1::ListTokensResponse {
            tokens: tokens.into_iter().map(token_to_proto).collect(),
        }))
    }

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

    async fn get_retention(
        &self,
        request: Request<v1::GetRetentionRequest>,
    ) -> Result<Response<v1::RetentionInfo>, Status> {
        retention_service::get_retention(&self.ctx, request)
            .await
            .map(Response::new)
    }

    async fn set_retention(
        &self,
        request: Request<v1::SetRetentionRequest>,
    ) -> Result<Response<v1::RetentionPolicy>, Status> {
        retention_service::set_retention(&self.ctx, request)
            .await
            .map(Response::new)
    }

    type ApplyRetentionStream = ResponseStream<v1::ApplyRetentionResponse>;

    async fn apply_retention(
        &self,
        request: Request<v1::ApplyRetentionRequest>,
    ) -> Result<Response<Self::ApplyRetentionStream>, Status> {
        retention_service::apply_retention(&self.ctx, request)
            .await
            .map(Response::new)
    }

    async fn raise_lock(
        &self,
        request: Request<v1::RaiseLockRequest>,
    ) -> Result<Response<v1::RetentionPolicy>, Status> {
        retention_service::raise_lock(&self.ctx, request)
            .await
            .map(Response::new)
    }

    async fn set_scrub(
        &self,
        request: Request<v1::SetScrubRequest>,
    ) -> Result<Response<v1::ScrubPolicy>, Status> {
        scrub_service::set_scrub(&self.ctx, request)
            .await
            .map(Response::new)
    }

    async fn test_scrub(
        &self,
        request: Request<v1::TestScrubRequest>,
    ) -> Result<Response<v1::TestScrubResponse>, Status> {
        scrub_service::test_scrub(&self.ctx, request)
            .await
            .map(Response::new)
    }

    async fn set_hold(
        &self,
        request: Request<v1::SetHoldRequest>,
    ) -> Result<Response<v1::Hold>, Status> {
        retention_service::set_hold(&self.ctx, request)
            .await
            .map(Response::new)
    }

    async fn lift_hold(
        &self,
        request: Request<v1::LiftHoldRequest>,
    ) -> Result<Response<v1::Hold>, Status> {
        retention_service::lift_hold(&self.ctx, request)
            .await
            .map(Response::new)
    }

    async fn list_archived(
        &self,
        request: Request<v1::ListArchivedRequest>,
    ) -> Result<Response<v1::ListArchivedResponse>, Status> {
        retention_service::list_archived(&self.ctx, request)
            .await
            .map(Response::new)
    }

    type RestoreSegmentStream = ResponseStream<v1::RestoreSegmentResponse>;

    async fn restore_segment(
        &self,
        request: Request<v1::RestoreSegmentRequest>,
    ) -> Result<Response<Self::RestoreSegmentStream>, Status> {
        retention_service::restore_segment(&self.ctx, request)
            .await
            .map(Response::new)
    }

    type CompactStream = ResponseStream<v1::CompactResponse>;

    async fn compact(
        &self,
        request: Request<v1::CompactRequest>,
    ) -> Result<Response<Self::CompactStream>, Status> {
        rewrite_service::compact(&self.ctx, request)
            .await
            .map(Response::new)
    }

    type EraseStream = ResponseStream<v1::EraseResponse>;

    async fn erase(
        &self,
        request: Request<v1::EraseRequest>,
    ) -> Result<Response<Self::EraseStream>, Status> {
        rewrite_service::erase(&self.ctx, request)
            .await
            .map(Response::new)
    }
}
