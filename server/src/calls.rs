//! Calls that both front doors (gRPC and HTTP) make the same way, so that
//! they answer the same: an aggregation of either kind, a verification
//! that reports its progress, and minting, revoking and listing viewer
//! tokens.

use std::ops::Range;
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use stele_engine::query::{Aggregated, Aggregation};
use stele_engine::verify::{VerifyProgress, VerifyReport};
use stele_engine::{Cancel, Error, Event, Log, Query, Receipt, Record};
use tokio::sync::mpsc;
use tonic::Status;

use crate::admin_service::recorded;
use crate::audit::Note;
use crate::auth::Role;
use crate::context::{Context, Session};
use crate::status::{blocking, to_status};
use crate::tokens::{MintSpec, MintedToken};

/// Runs `what` over the events of `log` that `query` matches.
///
/// # Errors
/// The engine's status (`INVALID_ARGUMENT` naming the query's fault).
pub async fn aggregate(
    log: Arc<Log>,
    query: Query,
    what: Aggregation,
) -> Result<Aggregated, Status> {
    // Dropped with this future when the caller goes away: the scan stops.
    let cancel = Cancel::default();
    let _call_off = cancel.on_drop();
    blocking(move || log.aggregate(&query, what, &cancel)).await
}

/// One message of a verification.
#[derive(Debug)]
pub enum Verified {
    /// How far it has got.
    Progress(VerifyProgress),
    /// The verdict, the last message.
    Done {
        /// What was checked, and the first failure.
        report: Box<VerifyReport>,
        /// The chain hash the check started from when the log starts at a
        /// retention anchor, so that a client can recompute the rest of the
        /// chain itself.
        anchor_head: Option<[u8; 32]>,
    },
}

/// Verifies `range` of `log` against `key` on the blocking pool; the
/// receiver gets progress, then the verdict or the error that stopped it.
/// Dropping the receiver stops the walk at the next segment.
pub fn verify(
    log: Arc<Log>,
    range: Range<u64>,
    key: VerifyingKey,
) -> mpsc::Receiver<Result<Verified, Status>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        let progress_tx = tx.clone();
        // Set when the receiver is gone (the caller went away): the walk
        // stops at the next segment instead of hashing a log for nobody.
        let cancel = Cancel::default();
        let mut progress = |p: VerifyProgress| {
            if progress_tx
                .blocking_send(Ok(Verified::Progress(p)))
                .is_err()
            {
                cancel.cancel();
            }
        };
        let last = log
            .verify_with_progress(range, &key, &mut progress, &cancel)
            .map(|report| {
                let anchor_head = report.anchored_at.and_then(|at| {
                    log.manifest()
                        .anchor
                        .filter(|a| a.first_seq == at)
                        .map(|a| a.head)
                });
                Verified::Done {
                    report: Box::new(report),
                    anchor_head,
                }
            })
            .map_err(to_status);
        let _ = tx.blocking_send(last);
    });
    rx
}

/// What `_system` keeps of a token: never its secret or digest.
fn token_note(token: &MintedToken) -> Note {
    Note::default().with(
        "token",
        serde_json::json!({
            "id": token.id,
            "name": token.name,
            "logs": token.logs,
            "tenants": token.tenants,
            "expires": stele_engine::event::format_time(token.expires_ns),
        }),
    )
}

/// Mints a viewer token for an admitted admin `session`, which needs the
/// `admin` role on every log the token names; recorded in `_system`.
///
/// # Errors
/// `PERMISSION_DENIED` (recorded), `INVALID_ARGUMENT` naming the field,
/// the file's error.
pub async fn mint_token(
    ctx: &Context,
    session: &Session,
    spec: MintSpec,
) -> Result<(MintedToken, String), Status> {
    for log in &spec.logs {
        ctx.authorize(session, Role::Admin, Some(log))?;
    }
    let minted = ctx
        .auth
        .minted
        .mint(&spec, &session.caller.name, ctx.store.now_ns());
    let note = minted
        .as_ref()
        .map(|(token, _)| token_note(token))
        .unwrap_or_default();
    recorded(ctx, session, None, minted, note).await
}

/// Revokes the token `id` for an admitted admin `session`, which needs the
/// `admin` role on every log the token names; recorded in `_system`.
///
/// # Errors
/// `NOT_FOUND`, `PERMISSION_DENIED` (recorded), the file's error.
pub async fn revoke_token(
    ctx: &Context,
    session: &Session,
    id: &str,
) -> Result<MintedToken, Status> {
    let token = ctx
        .auth
        .minted
        .get(id)
        .ok_or_else(|| Status::not_found(format!("no minted token `{id}`")))?;
    for log in &token.logs {
        ctx.authorize(session, Role::Admin, Some(log))?;
    }
    let revoked = ctx.auth.minted.revoke(id, ctx.store.now_ns());
    recorded(ctx, session, None, revoked, token_note(&token)).await
}

/// The minted tokens whose every log the admitted admin `session`
/// administers; recorded in `_system`.
///
/// # Errors
/// The error of writing the record.
pub async fn list_tokens(ctx: &Context, session: &Session) -> Result<Vec<MintedToken>, Status> {
    let now = ctx.store.now_ns();
    let tokens = ctx
        .auth
        .minted
        .list()
        .into_iter()
        .filter(|t| {
            now < t.expires_ns
                && t.logs
                    .iter()
                    .all(|log| session.principal.authorize(Role::Admin, Some(log)).is_ok())
        })
        .collect();
    recorded(ctx, session, None, Ok(tokens), Note::default()).await
}

/// The record `seq` of `log`, its decoded event and its receipt, as the
/// admitted `session` may see it: for a caller limited to some tenants, a
/// record of another tenant (or a redacted one, whose tenant is gone) is
/// answered exactly as a seq the log does not hold, so that nothing about
/// it leaks, and the attempt is recorded in `_system`.
///
/// # Errors
/// `NOT_FOUND` or `OUT_OF_RANGE` as described; `DATA_LOSS` when the record
/// does not decode; the engine's status.
pub async fn record_for(
    ctx: &Context,
    session: &Session,
    log: Arc<Log>,
    seq: u64,
) -> Result<(Record, Option<Event>, Receipt), Status> {
    let name = log.name().to_string();
    let read = blocking(move || {
        let (record, receipt) = log.read_with_receipt(seq)?;
        let event = record.event().map_err(|reason| Error::Corrupted {
            file: log.dir().to_path_buf(),
            offset: seq,
            reason: format!("record {seq} does not decode: {reason}"),
        })?;
        Ok((record, event, receipt))
    })
    .await;
    let Some(tenants) = session.principal.tenants() else {
        return read;
    };
    let hidden = || {
        Status::not_found(format!(
            "log `{name}` has no record {seq} that token `{}` may see",
            session.principal.name
        ))
    };
    match read {
        Ok(found) if session.principal.sees(found.1.as_ref()) => Ok(found),
        Ok(_) => {
            ctx.audit.auth_failure(
                &session.caller,
                session.method,
                &Status::permission_denied(format!(
                    "record {seq} of log `{name}` is not of the token's tenants ({})",
                    tenants.join(", ")
                )),
            );
            Err(hidden())
        }
        Err(status) if status.code() == tonic::Code::OutOfRange => Err(hidden()),
        Err(status) => Err(status),
    }
}

/// An inclusion proof with what it proves against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    /// The record.
    pub seq: u64,
    /// The tree it is proved in.
    pub tree_size: u64,
    /// The record's leaf hash.
    pub leaf_hash: [u8; 32],
    /// The audit path, leaf side first.
    pub hashes: Vec<[u8; 32]>,
    /// The tree head of `tree_size` records.
    pub root: [u8; 32],
    /// The C2SP signed checkpoint of `tree_size`.
    pub checkpoint: String,
}

/// The inclusion proof of record `seq` in the tree of `tree_size` records
/// (0: the durable head) of `log`, for an admitted `session`: a record it
/// may not see is answered as [`record_for`] answers it.
///
/// # Errors
/// As [`record_for`]; `INVALID_ARGUMENT` for a size past the head or not
/// above `seq`.
pub async fn inclusion_proof(
    ctx: &Context,
    session: &Session,
    log: Arc<Log>,
    seq: u64,
    tree_size: u64,
) -> Result<Inclusion, Status> {
    let tree_size = if tree_size == 0 {
        log.visible_seq()
    } else {
        tree_size
    };
    let (record, _, _) = record_for(ctx, session, log.clone(), seq).await?;
    let origin = ctx.origin.clone();
    let (hashes, root, checkpoint) = blocking(move || {
        Ok((
            log.inclusion_proof(seq, tree_size)?,
            log.tree_root(tree_size)?,
            log.signed_tree_head(tree_size, &origin)?,
        ))
    })
    .await?;
    Ok(Inclusion {
        seq,
        tree_size,
        leaf_hash: record.leaf_hash(),
        hashes,
        root,
        checkpoint,
    })
}

/// A consistency proof with what it proves against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consistency {
    /// The older tree.
    pub old_size: u64,
    /// The newer tree.
    pub new_size: u64,
    /// The proof (RFC 9162 §2.1.4).
    pub hashes: Vec<[u8; 32]>,
    /// The older tree's head.
    pub old_root: [u8; 32],
    /// The newer tree's head.
    pub new_root: [u8; 32],
    /// The C2SP signed checkpoint of `new_size`.
    pub checkpoint: String,
}

/// The proof that the first `new_size` records of `log` (0: the durable
/// head) extend its first `old_size`.
///
/// # Errors
/// `INVALID_ARGUMENT` for sizes out of order or past the head.
pub async fn consistency_proof(
    ctx: &Context,
    log: Arc<Log>,
    old_size: u64,
    new_size: u64,
) -> Result<Consistency, Status> {
    let new_size = if new_size == 0 {
        log.visible_seq()
    } else {
        new_size
    };
    let origin = ctx.origin.clone();
    let (hashes, old_root, new_root, checkpoint) = blocking(move || {
        Ok((
            log.consistency_proof(old_size, new_size)?,
            log.tree_root(old_size.min(new_size))?,
            log.tree_root(new_size)?,
            log.signed_tree_head(new_size, &origin)?,
        ))
    })
    .await?;
    Ok(Consistency {
        old_size,
        new_size,
        hashes,
        old_root,
        new_root,
        checkpoint,
    })
}
