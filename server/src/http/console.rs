//! The web console (docs/console.md): the static files of
//! `server/console/`, built into the binary, served at `/` and
//! `/console/…` under a strict Content-Security-Policy: scripts, styles and
//! connections from this origin only, no inline script or style, and
//! framing only by the configured `frame_ancestors`. The pages call the
//! HTTP API with the visitor's own token; nothing here reads a log.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::ConsoleConfig;
use crate::http::error::ApiError;

/// The console's files, from `server/console/` at build time.
#[derive(rust_embed::Embed)]
#[folder = "console/"]
struct Assets;

/// The headers every console answer carries.
#[derive(Clone)]
struct Policy {
    csp: HeaderValue,
    /// `X-Frame-Options: DENY` for browsers without `frame-ancestors`,
    /// when no origin may frame the console.
    deny_frames: bool,
    /// `/console/config.json`.
    config: String,
}

impl Policy {
    fn new(config: &ConsoleConfig) -> Policy {
        let ancestors = if config.frame_ancestors.is_empty() {
            "'none'".to_string()
        } else {
            config.frame_ancestors.join(" ")
        };
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
             connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
        );
        Policy {
            csp: HeaderValue::from_str(&csp).expect("origins are checked by the configuration"),
            deny_frames: config.frame_ancestors.is_empty(),
            config: serde_json::json!({ "frame_ancestors": config.frame_ancestors }).to_string(),
        }
    }

    /// `body` as `content_type`, with the security headers.
    fn answer(&self, content_type: &str, body: impl Into<Body>) -> Response {
        let mut response = (StatusCode::OK, body.into()).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if self.deny_frames {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        response
    }

    fn file(&self, path: &str) -> Response {
        match Assets::get(path) {
            Some(file) => self.answer(file.metadata.mimetype(), file.data.into_owned()),
            None => ApiError::no_route(format!("no console file `{path}`"), StatusCode::NOT_FOUND)
                .into_response(),
        }
    }
}

/// The console's routes, or none when `config` turns it off.
pub fn routes<S: Clone + Send + Sync + 'static>(config: &ConsoleConfig) -> Router<S> {
    if !config.enabled {
        return Router::new();
    }
    let policy = Policy::new(config);
    let (index, assets, settings) = (policy.clone(), policy.clone(), policy);
    Router::new()
        .route("/", get(move || async move { index.file("index.html") }))
        .route(
            "/console/config.json",
            get(
                move || async move { settings.answer("application/json", settings.config.clone()) },
            ),
        )
        .route(
            "/console/{*path}",
            get(move |Path(path): Path<String>| async move { assets.file(&path) }),
        )
}
