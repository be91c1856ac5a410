//! The scrubbing calls of the `Admin` service: `SetScrub` replaces a log's
//! rules (recorded in `_system` with the rules, which name patterns, never
//! a secret), and `TestScrub` shows what the log's rules, or rules being
//! tried, would do to sample events, storing nothing.
//!
//! Both need the `admin` role on the log: a dry run sends the caller back
//! what it sent, but the rules themselves are the log's configuration.

use std::collections::HashMap;

use serde_json::json;
use stele_engine::event::scrub::Scrubber;
use stele_proto::v1;
use tonic::{Request, Status};

use crate::admin_service::recorded;
use crate::audit::Note;
use crate::auth::Role;
use crate::context::Context;
use crate::convert::scrub::{scrub_policy_from_proto, scrub_policy_to_proto};
use crate::convert::{event_from_proto, event_to_proto};
use crate::status::{blocking, invalid, to_status};

/// `SetScrub`.
///
/// # Errors
/// `INVALID_ARGUMENT` naming the rule at fault; `NOT_FOUND`; auth errors.
pub async fn set_scrub(
    ctx: &Context,
    request: Request<v1::SetScrubRequest>,
) -> Result<v1::ScrubPolicy, Status> {
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "SetScrub", Role::Admin, Some(&name))?;
    let scrub = scrub_policy_from_proto(request.into_inner().scrub);
    let note = Note::default().with("builtin", json!(scrub.builtin)).with(
        "custom",
        json!(
            scrub
                .custom
                .iter()
                .map(|r| json!({"name": r.name, "pattern": r.pattern}))
                .collect::<Vec<_>>()
        ),
    );
    let result = async {
        let log = ctx.log(&name).await?;
        blocking(move || log.set_scrub(scrub)).await
    }
    .await;
    let scrub = recorded(ctx, &session, Some(&name), result, note).await?;
    tracing::info!(log = %name, by = %session.caller.name, builtin = ?scrub.builtin, custom = scrub.custom.len(), "scrubbing rules changed");
    Ok(scrub_policy_to_proto(&scrub))
}

/// `TestScrub`.
///
/// # Errors
/// `INVALID_ARGUMENT` naming an event's field or a rule being tried;
/// `NOT_FOUND`; auth errors.
pub async fn test_scrub(
    ctx: &Context,
    request: Request<v1::TestScrubRequest>,
) -> Result<v1::TestScrubResponse, Status> {
    let name = request.get_ref().log.clone();
    ctx.admit(&request, "TestScrub", Role::Admin, Some(&name))?;
    let req = request.into_inner();
    let log = ctx.log(&name).await?;
    let most = log.manifest().policy.limits.max_batch_events;
    if req.events.len() > most {
        return Err(invalid(
            "events",
            format!("{} events; at most {most} at a time", req.events.len()),
        ));
    }
    let scrubber = match req.scrub {
        Some(rules) => std::sync::Arc::new(
            Scrubber::new(&scrub_policy_from_proto(Some(rules))).map_err(to_status)?,
        ),
        None => log.scrubber(),
    };
    let events = req
        .events
        .into_iter()
        .enumerate()
        .map(|(i, e)| event_from_proto(e, &format!("events[{i}]")))
        .collect::<Result<Vec<_>, Status>>()?;
    blocking(move || {
        Ok(v1::TestScrubResponse {
            events: events
                .into_iter()
                .map(|mut event| {
                    let fired = scrubber.apply(&mut event);
                    v1::ScrubbedEvent {
                        event: Some(event_to_proto(event)),
                        fired: fired.into_iter().collect::<HashMap<_, _>>(),
                    }
                })
                .collect(),
        })
    })
    .await
}
