//! The `stele.v1.Stele` service: append, query, aggregate, subscribe, read,
//! checkpoints and verification.
//!
//! Every handler admits the caller first ([`Context::admit`]), converts the
//! request ([`crate::convert`]), runs the engine call on the blocking pool
//! ([`blocking`]) and converts the answer back. Errors leave through
//! [`crate::status`].
//!
//! `AppendStream` writes a stream's batches in the order they came (so their
//! seqs follow it), lets up to `limits.max_stream_in_flight` of them wait for
//! durability at once (sharing fsyncs through group commit), and answers
//! them in order.

use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesOrdered, Stream, StreamExt};
use stele_engine::query::{DEFAULT_LIMIT, DEFAULT_TOP};
use stele_engine::{Appended, Order};
use stele_proto::v1::{self, stele_server::Stele};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Role;
use crate::calls::{self, Verified};
use crate::context::{Context, Session};
use crate::convert::{
    checkpoint_to_proto, event_from_proto, field_from_name, histogram_to_proto, receipt_to_proto,
    record_parts_to_proto, report_to_proto, selection_to_query, stats_to_proto, terms_to_proto,
};
use crate::status::{blocking, from_transport, invalid, retry_after, to_status};
use crate::subscribe::{self, DEFAULT_HEARTBEAT, Delivery, MIN_HEARTBEAT, Plan, Start};
use stele_engine::query::{Aggregated, Aggregation};

/// The `Stele` service.
#[derive(Debug, Clone)]
pub struct SteleService {
    ctx: Context,
}

impl SteleService {
    /// A service over the shared context.
    pub fn new(ctx: Context) -> SteleService {
        SteleService { ctx }
    }
}

/// A boxed response stream.
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The events of an append request, checked.
fn events_of(req: &mut v1::AppendRequest) -> Result<Vec<stele_engine::Event>, Status> {
    std::mem::take(&mut req.events)
        .into_iter()
        .enumerate()
        .map(|(i, event)| event_from_proto(event, &format!("events[{i}]")))
        .collect()
}

/// The answer to an appended batch.
fn appended_response(batch_id: u64, appended: &Appended) -> v1::AppendResponse {
    v1::AppendResponse {
        batch_id,
        receipts: appended
            .receipts
            .iter()
            .zip(&appended.duplicates)
            .map(|(r, dup)| receipt_to_proto(r, *dup))
            .collect(),
        error: None,
    }
}

/// The in-band answer to a failed batch of a stream.
fn error_response(batch_id: u64, status: &Status) -> v1::AppendResponse {
    v1::AppendResponse {
        batch_id,
        receipts: Vec::new(),
        error: Some(v1::Error {
            code: status.code() as i32,
            message: status.message().to_string(),
            retry_after_secs: retry_after(status),
        }),
    }
}

/// Appends one batch for an admitted session.
async fn append_batch(
    ctx: &Context,
    mut req: v1::AppendRequest,
) -> Result<v1::AppendResponse, Status> {
    let events = events_of(&mut req)?;
    let appended = ctx.append(&req.log, events).await?;
    Ok(appended_response(req.batch_id, &appended))
}

/// A batch of a stream whose seqs are taken, waiting to be durable.
type Finishing = Pin<Box<dyn Future<Output = v1::AppendResponse> + Send>>;

/// Authorizes, checks and writes one batch of a stream (taking its seqs,
/// in stream order), and returns the future that waits for its durability;
/// a failure becomes an in-band error.
async fn start_stream_batch(
    ctx: &Context,
    session: &Session,
    mut req: v1::AppendRequest,
) -> Finishing {
    let batch_id = req.batch_id;
    let started = async {
        ctx.authorize(session, Role::Append, Some(&req.log))?;
        let events = events_of(&mut req)?;
        let log = ctx.log(&req.log).await?;
        let writer = log.clone();
        let pending = blocking(move || writer.start_append(&events)).await?;
        Ok::<_, Status>((log, pending))
    };
    match started.await {
        Ok((log, pending)) => Box::pin(async move {
            match blocking(move || log.finish_append(pending)).await {
                Ok(appended) => appended_response(batch_id, &appended),
                Err(status) => error_response(batch_id, &status),
            }
        }),
        Err(status) => Box::pin(std::future::ready(error_response(batch_id, &status))),
    }
}

/// Reads a stream's batches and writes them one after another, so that
/// their seqs follow the stream's order, while up to `limit` of them wait
/// for durability together (sharing fsyncs); answers in order. Ends when
/// the client closes its side (after answering everything received), on a
/// transport error, or at shutdown (after answering the batches already
/// received, then reading on to [`drain`] the rest).
async fn run_append_stream(
    ctx: Context,
    session: Session,
    mut inbound: Streaming<v1::AppendRequest>,
    tx: mpsc::Sender<Result<v1::AppendResponse, Status>>,
) {
    let limit = ctx.limits.max_stream_in_flight;
    let mut shutdown = ctx.shutdown.clone();
    let mut in_flight: FuturesOrdered<Finishing> = FuturesOrdered::new();
    let mut reading = true;
    let mut stopped = false;
    loop {
        tokio::select! {
            biased;
            Some(response) = in_flight.next(), if !in_flight.is_empty() => {
                if tx.send(Ok(response)).await.is_err() {
                    return;
                }
            }
            _ = shutdown.changed(), if reading => {
                reading = false;
                stopped = true;
            }
            next = inbound.next(), if reading && in_flight.len() < limit => match next {
                Some(Ok(req)) => in_flight.push_back(start_stream_batch(&ctx, &session, req).await),
                Some(Err(status)) => {
                    while let Some(response) = in_flight.next().await {
                        let _ = tx.send(Ok(response)).await;
                    }
                    let _ = tx.send(Err(from_transport(status, ctx.limits.max_request_bytes))).await;
                    return;
                }
                None => reading = false,
            },
            else => break,
        }
    }
    if stopped {
        let _ = tx
            .send(Err(Status::unavailable(
                "the server is shutting down: every batch sent before this was answered; send the rest again after reconnecting",
            )))
            .await;
        drain(inbound).await;
    }
}

/// How long a stream stopped by shutdown is read on, discarding, at most.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads and drops what a client still sends on a stream that was ended
/// (its answer already sent), until the client closes its side or
/// [`DRAIN_FOR`] passes. A connection closed while the client's batches
/// are still arriving is reset by the kernel, and a reset throws away the
/// answer before the client reads it; a client that has read the answer
/// closes its side.
async fn drain(mut inbound: Streaming<v1::AppendRequest>) {
    let _ = tokio::time::timeout(DRAIN_FOR, async {
        while let Some(Ok(_)) = inbound.next().await {}
    })
    .await;
}

#[tonic::async_trait]
impl Stele for SteleService {
    async fn append(
        &self,
        request: Request<v1::AppendRequest>,
    ) -> Result<Response<v1::AppendResponse>, Status> {
        self.ctx.admit(
            &request,
            "Append",
            Role::Append,
            Some(&request.get_ref().log),
        )?;
        Ok(Response::new(
            append_batch(&self.ctx, request.into_inner()).await?,
        ))
    }

    type AppendStreamStream = BoxStream<v1::AppendResponse>;

    async fn append_stream(
        &self,
        request: Request<Streaming<v1::AppendRequest>>,
    ) -> Result<Response<Self::AppendStreamStream>, Status> {
        let session = self.ctx.authenticate(&request, "AppendStream")?;
        let (tx, rx) = mpsc::channel(self.ctx.limits.max_stream_in_flight);
        tokio::spawn(run_append_stream(
            self.ctx.clone(),
            session,
            request.into_inner(),
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn query(
        &self,
        request: Request<v1::QueryRequest>,
    ) -> Result<Response<v1::QueryResponse>, Status> {
        let session =
            self.ctx
                .admit(&request, "Query", Role::Read, Some(&request.get_ref().log))?;
        let req = request.into_inner();
        let mut query = selection_to_query(req.selection)?;
        session.principal.narrow(&mut query);
        query.order = match v1::Order::try_from(req.order) {
            Ok(v1::Order::Unspecified | v1::Order::NewestFirst) => Order::NewestFirst,
            Ok(v1::Order::OldestFirst) => Order::OldestFirst,
            Err(_) => return Err(invalid("order", format!("{} is not an Order", req.order))),
        };
        query.limit = if req.limit == 0 {
            DEFAULT_LIMIT
        } else {
            req.limit as usize
        };
        query.cursor = Some(req.cursor).filter(|c| !c.is_empty());
        let log = self.ctx.log(&req.log).await?;
        let page = blocking(move || log.search(&query)).await?;
        let records = page
            .hits
            .into_iter()
            .map(|hit| record_parts_to_proto(hit.record, hit.event, false))
            .collect();
        Ok(Response::new(v1::QueryResponse {
            records,
            next_cursor: page.next_cursor.unwrap_or_default(),
            stats: Some(stats_to_proto(&page.stats)),
        }))
    }

    async fn aggregate(
        &self,
        request: Request<v1::AggregateRequest>,
    ) -> Result<Response<v1::AggregateResponse>, Status> {
        use v1::aggregate_request::Kind;
        use v1::aggregate_response::Result as Answer;
        let session = self.ctx.admit(
            &request,
            "Aggregate",
            Role::Read,
            Some(&request.get_ref().log),
        )?;
        let req = request.into_inner();
        let mut query = selection_to_query(req.selection)?;
        session.principal.narrow(&mut query);
        let top = |n: u32| if n == 0 { DEFAULT_TOP } else { n as usize };
        let what = match req.kind {
            None | Some(Kind::Count(_)) => Aggregation::Count,
            Some(Kind::CountBy(spec)) => Aggregation::CountBy {
                field: field_from_name(&spec.field, "count_by.field")?,
                top: top(spec.top),
            },
            Some(Kind::Histogram(spec)) => Aggregation::Histogram {
                interval_ns: spec.interval_ns,
                split: if spec.split_field.is_empty() {
                    None
                } else {
                    Some((
                        field_from_name(&spec.split_field, "histogram.split_field")?,
                        top(spec.split_top),
                    ))
                },
            },
        };
        let log = self.ctx.log(&req.log).await?;
        let response = match calls::aggregate(log, query, what).await? {
            Aggregated::Count { count, snapshot } => v1::AggregateResponse {
                result: Some(Answer::Count(count)),
                stats: Some(v1::SearchStats {
                    snapshot,
                    ..v1::SearchStats::default()
                }),
            },
            Aggregated::Terms(terms) => v1::AggregateResponse {
                stats: Some(stats_to_proto(&terms.stats)),
                result: Some(Answer::Terms(terms_to_proto(terms))),
            },
            Aggregated::Histogram(histogram) => v1::AggregateResponse {
                stats: Some(stats_to_proto(&histogram.stats)),
                result: Some(Answer::Histogram(histogram_to_proto(histogram))),
            },
        };
        Ok(Response::new(response))
    }

    type SubscribeStream = subscribe::Messages<v1::SubscribeResponse>;

    async fn subscribe(
        &self,
        request: Request<v1::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        use v1::subscribe_request::Start as From;
        use v1::subscribe_response::Item;
        let session = self.ctx.admit(
            &request,
            "Subscribe",
            Role::Read,
            Some(&request.get_ref().log),
        )?;
        let req = request.into_inner();
        let mut query = selection_to_query(req.selection)?;
        session.principal.narrow(&mut query);
        let heartbeat = match req.heartbeat_ms {
            0 => DEFAULT_HEARTBEAT,
            ms => std::time::Duration::from_millis(u64::from(ms)),
        };
        if heartbeat < MIN_HEARTBEAT {
            return Err(invalid(
                "heartbeat_ms",
                format!("must be at least {} ms", MIN_HEARTBEAT.as_millis()),
            ));
        }
        let permit = self
            .ctx
            .subscribers
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                Status::resource_exhausted(format!(
                    "{} subscriptions are open, the limit (limits.max_subscribers)",
                    self.ctx.limits.max_subscribers
                ))
            })?;
        let log = self.ctx.log(&req.log).await?;
        log.check_query(&query).map_err(to_status)?;
        let start = match req.start {
            Some(From::FromSeq(seq)) => Start::Seq(seq),
            Some(From::FromIngestTimeNs(t)) => Start::IngestTime(t),
            // "Now" is when the call is answered: a record appended after
            // the client has its answer is delivered.
            Some(From::FromNow(_)) | None => Start::Seq(log.visible_seq()),
        };
        let plan = Plan {
            log,
            start,
            query,
            heartbeat,
            chunk: self.ctx.limits.subscribe_chunk,
        };
        let include_body = req.include_body;
        Ok(Response::new(subscribe::spawn(
            plan,
            self.ctx.shutdown.clone(),
            permit,
            move |delivery| {
                let item = match delivery {
                    Delivery::Record(hit) => {
                        Item::Record(record_parts_to_proto(hit.record, hit.event, include_body))
                    }
                    Delivery::Heartbeat {
                        head_seq,
                        resume_seq,
                    } => Item::Heartbeat(v1::Heartbeat {
                        head_seq,
                        resume_seq,
                    }),
                };
                v1::SubscribeResponse { item: Some(item) }
            },
        )))
    }

    async fn get_record(
        &self,
        request: Request<v1::GetRecordRequest>,
    ) -> Result<Response<v1::GetRecordResponse>, Status> {
        let session = self.ctx.admit(
            &request,
            "GetRecord",
            Role::Read,
            Some(&request.get_ref().log),
        )?;
        let req = request.into_inner();
        let log = self.ctx.log(&req.log).await?;
        let (record, event, receipt) = calls::record_for(&self.ctx, &session, log, req.seq).await?;
        Ok(Response::new(v1::GetRecordResponse {
            record: Some(record_parts_to_proto(record, event, req.include_body)),
            receipt: Some(receipt_to_proto(&receipt, false)),
        }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<v1::GetCheckpointRequest>,
    ) -> Result<Response<v1::Checkpoint>, Status> {
        self.ctx.admit(
            &request,
            "GetCheckpoint",
            Role::Read,
            Some(&request.get_ref().log),
        )?;
        let log = self.ctx.log(&request.get_ref().log).await?;
        let checkpoint = blocking(move || log.checkpoint()).await?;
        Ok(Response::new(checkpoint_to_proto(checkpoint)))
    }

    async fn get_public_key(
        &self,
        request: Request<v1::GetPublicKeyRequest>,
    ) -> Result<Response<v1::GetPublicKeyResponse>, Status> {
        self.ctx.authenticate(&request, "GetPublicKey")?;
        Ok(Response::new(v1::GetPublicKeyResponse {
            public_key: self.ctx.store.public_key().to_bytes().to_vec(),
            algorithm: "ed25519".into(),
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<v1::GetInclusionProofRequest>,
    ) -> Result<Response<v1::InclusionProof>, Status> {
        let session = self.ctx.admit(
            &request,
            "GetInclusionProof",
            Role::Read,
            Some(&request.get_ref().log),
        )?;
        let req = request.into_inner();
        let log = self.ctx.log(&req.log).await?;
        let p = calls::inclusion_proof(&self.ctx, &session, log, req.seq, req.tree_size).await?;
        Ok(Response::new(v1::InclusionProof {
            seq: p.seq,
            tree_size: p.tree_size,
            leaf_hash: p.leaf_hash.to_vec(),
            hashes: p.hashes.iter().map(|h| h.to_vec()).collect(),
            root: p.root.to_vec(),
            checkpoint: p.checkpoint,
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<v1::GetConsistencyProofRequest>,
    ) -> Result<Response<v1::ConsistencyProof>, Status> {
        self.ctx.admit(
            &request,
            "GetConsistencyProof",
            Role::Read,
            Some(&request.get_ref().log),
        )?;
        let req = request.into_inner();
        let log = self.ctx.log(&req.log).await?;
        let p = calls::consistency_proof(&self.ctx, log, req.old_size, req.new_size).await?;
        Ok(Response::new(v1::ConsistencyProof {
            old_size: p.old_size,
            new_size: p.new_size,
            hashes: p.hashes.iter().map(|h| h.to_vec()).collect(),
            old_root: p.old_root.to_vec(),
            new_root: p.new_root.to_vec(),
            checkpoint: p.checkpoint,
        }))
    }

    type VerifyStream = BoxStream<v1::VerifyResponse>;

    async fn verify(
        &self,
        request: Request<v1::VerifyRequest>,
    ) -> Result<Response<Self::VerifyStream>, Status> {
        use v1::verify_response::Item;
        self.ctx
            .admit(&request, "Verify", Role::Read, Some(&request.get_ref().log))?;
        let req = request.into_inner();
        let log = self.ctx.log(&req.log).await?;
        let key = self.ctx.store.public_key();
        let range = req.from_seq..req.to_seq.unwrap_or(u64::MAX);
        if range.start > range.end {
            return Err(invalid("to_seq", "is before from_seq"));
        }
        let log_dir = log.dir().to_path_buf();
        let messages = ReceiverStream::new(calls::verify(log, range, key)).map(move |item| {
            let item = match item? {
                Verified::Progress(p) => Item::Progress(v1::VerifyProgress {
                    segments_done: u32::try_from(p.segments_done).unwrap_or(u32::MAX),
                    segments_total: u32::try_from(p.segments_total).unwrap_or(u32::MAX),
                }),
                Verified::Done {
                    report,
                    anchor_head,
                } => {
                    let mut result = report_to_proto(&report, &log_dir);
                    result.anchor_head = anchor_head.map(|h| h.to_vec()).unwrap_or_default();
                    Item::Result(result)
                }
            };
            Ok(v1::VerifyResponse { item: Some(item) })
        });
        Ok(Response::new(Box::pin(messages)))
    }
}
