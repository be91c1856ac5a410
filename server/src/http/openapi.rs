//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the HTTP API,
//! generated from the handlers' and answers' own annotations (utoipa), so
//! that it cannot drift from the code without the route test noticing
//! (`server/tests/it/http.rs`).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{admin, export, github, ingest, proofs, read, tail, tokens};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stele HTTP/JSON API",
        description = "Append, search, tail and prove audit events. Errors share one shape (`Error`); docs/api.md has the rules and curl examples.",
    ),
    paths(
        ingest::post_events,
        read::search,
        export::export,
        read::get_record,
        read::aggregate,
        read::checkpoint,
        read::verify,
        proofs::inclusion,
        proofs::consistency,
        tail::tail,
        github::deliver,
        crate::http::session,
        tokens::mint,
        tokens::list,
        tokens::revoke,
        admin::list_logs,
        admin::create_log,
        admin::get_log,
        admin::list_segments,
        admin::seal,
        admin::get_retention,
        admin::list_archived,
        admin::set_hold,
        admin::lift_hold,
        admin::set_scrub,
        admin::test_scrub,
    ),
    modifiers(&BearerToken),
    security(("bearer" = [])),
    tags(
        (name = "events", description = "Append, search, aggregate, tail"),
        (name = "proofs", description = "Checkpoints and verification"),
        (name = "webhooks", description = "Deliveries from other systems"),
        (name = "tokens", description = "Viewer tokens scoped to logs and tenants"),
        (name = "admin", description = "The Admin service's calls, transcoded"),
    ),
)]
pub struct ApiDoc;

/// Declares the `Authorization: Bearer` scheme every route but the
/// webhook uses.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /v1/openapi.json`; needs no token.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
