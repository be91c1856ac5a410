//! Who is calling and what they may do: bearer tokens with roles, logs
//! and, for minted viewer tokens ([`crate::tokens`]), tenants.
//!
//! A token is looked up by the SHA-256 of the presented secret, so the
//! comparison never leaks the secret through timing: first the configured
//! tokens, then the minted ones. With no tokens configured every caller
//! without a minted token is the [`Principal::anonymous`] one, with every
//! role on every log (the server then only listens on loopback).
//!
//! A principal limited to some tenants sees only their events: every query
//! it makes is narrowed to them ([`Principal::narrow`]), and a record of
//! another tenant is answered as if it did not exist ([`Principal::sees`]).
//!
//! # Invariants
//! - No principal may append to a reserved log (`_system`): only the server
//!   writes there.
//! - [`Auth::authenticate`] fails with `UNAUTHENTICATED`, and
//!   [`Principal::authorize`] with `PERMISSION_DENIED`; both messages say
//!   what was missing, never the secret.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::Status;
use tonic::metadata::MetadataMap;

use stele_engine::{Event, ExactField, Filter, Query};

use crate::config::TokenConfig;
use crate::tokens::Minted;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `Append` and `AppendStream`.
    Append,
    /// Queries, aggregations, subscriptions, records, checkpoints, verify.
    Read,
    /// The `Admin` service.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Append => "append",
            Role::Read => "read",
            Role::Admin => "admin",
        })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (`anonymous` without tokens).
    pub name: String,
    roles: Vec<Role>,
    logs: Vec<String>,
    /// The tenants whose events it sees; empty for every tenant.
    tenants: Vec<String>,
}

impl Principal {
    /// The caller of a server with no tokens: every role on every log.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            roles: vec![Role::Append, Role::Read, Role::Admin],
            logs: vec!["*".into()],
            tenants: Vec::new(),
        }
    }

    /// A minted viewer: `read` on `logs`, seeing `tenants` (all when empty).
    pub fn viewer(name: String, logs: Vec<String>, tenants: Vec<String>) -> Principal {
        Principal {
            name,
            roles: vec![Role::Read],
            logs,
            tenants,
        }
    }

    /// What it may do.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The tenants it is limited to, if it is.
    pub fn tenants(&self) -> Option<&[String]> {
        (!self.tenants.is_empty()).then_some(&self.tenants[..])
    }

    /// Narrows `query` to the tenants the principal sees (a filter on
    /// `tenant`, joined to the query's own by AND).
    pub fn narrow(&self, query: &mut Query) {
        if let Some(tenants) = self.tenants() {
            query.filters.push(Filter {
                field: ExactField::Tenant,
                values: tenants.to_vec(),
            });
        }
    }

    /// Whether the principal may see a record's event (`None`: redacted,
    /// whose tenant is no longer known).
    pub fn sees(&self, event: Option<&Event>) -> bool {
        match self.tenants() {
            None => true,
            Some(tenants) => event.is_some_and(|e| tenants.contains(&e.tenant)),
        }
    }

    /// Whether the principal may use `log` at all.
    pub fn may_see(&self, log: &str) -> bool {
        self.logs
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => log.starts_with(prefix),
                None => pattern == log,
            })
    }

    /// Checks that the principal has `role` on `log` (`None`: on no log in
    /// particular).
    ///
    /// # Errors
    /// `PERMISSION_DENIED` naming the missing role or log.
    pub fn authorize(&self, role: Role, log: Option<&str>) -> Result<(), Status> {
        if !self.roles.contains(&role) {
            return Err(Status::permission_denied(format!(
                "token `{}` does not have the `{role}` role",
                self.name
            )));
        }
        if let Some(log) = log {
            if role == Role::Append && log.starts_with('_') {
                return Err(Status::permission_denied(format!(
                    "log `{log}` is reserved: only the server appends to it"
                )));
            }
            if !self.may_see(log) {
                return Err(Status::permission_denied(format!(
                    "token `{}` may not use log `{log}`",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

/// The configured tokens, and the minted ones.
#[derive(Debug, Clone)]
pub struct Auth {
    by_digest: HashMap<[u8; 32], Arc<Principal>>,
    /// Minted viewer tokens.
    pub minted: Arc<Minted>,
}

impl Auth {
    /// The tokens of a configuration, and the minted tokens.
    pub fn new(tokens: &[TokenConfig], minted: Arc<Minted>) -> Auth {
        Auth {
            minted,
            by_digest: tokens
                .iter()
                .map(|t| {
                    (
                        Sha256::digest(t.secret.as_bytes()).into(),
                        Arc::new(Principal {
                            name: t.name.clone(),
                            roles: t.roles.clone(),
                            logs: t.logs.clone(),
                            tenants: Vec::new(),
                        }),
                    )
                })
                .collect(),
        }
    }

    /// True when no token is configured.
    pub fn is_open(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The caller named by the request's `authorization: Bearer` metadata,
    /// at `now` (minted tokens expire).
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when it is missing, malformed or unknown (or
    /// expired, or revoked).
    pub fn authenticate(&self, metadata: &MetadataMap, now: i64) -> Result<Arc<Principal>, Status> {
        let Some(header) = metadata.get("authorization") else {
            if self.is_open() {
                return Ok(Arc::new(Principal::anonymous()));
            }
            return Err(Status::unauthenticated(
                "missing `authorization: Bearer <token>` metadata",
            ));
        };
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                Status::unauthenticated("the `authorization` metadata is not `Bearer <token>`")
            })?;
        let digest: [u8; 32] = Sha256::digest(secret.trim().as_bytes()).into();
        if let Some(principal) = self.by_digest.get(&digest) {
            return Ok(principal.clone());
        }
        if let Some(principal) = self.minted.principal(&digest, now) {
            return Ok(principal);
        }
        // On a server without tokens an unknown secret is ignored, except a
        // minted one that expired or was revoked: its holder must not get
        // more than the token gave.
        if self.is_open() && !crate::tokens::is_minted_secret(secret.trim()) {
            return Ok(Arc::new(Principal::anonymous()));
        }
        Err(Status::unauthenticated(
            "unknown token (or an expired or revoked one)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let dir = tempfile::tempdir().unwrap();
        Auth::new(
            &[TokenConfig {
                name: "ingest".into(),
                secret: "0123456789abcdef".into(),
                roles: vec![Role::Append],
                logs: vec!["audit".into(), "app-*".into()],
            }],
            Arc::new(Minted::open(dir.path()).unwrap()),
        )
    }

    fn with(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn tokens_roles_and_logs() {
        let auth = auth();
        let p = auth
            .authenticate(&with("Bearer 0123456789abcdef"), 0)
            .unwrap();
        assert_eq!(p.name, "ingest");
        p.authorize(Role::Append, Some("audit")).unwrap();
        p.authorize(Role::Append, Some("app-web")).unwrap();
        let denied = p.authorize(Role::Append, Some("billing")).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("billing"));
        let denied = p.authorize(Role::Read, Some("audit")).unwrap_err();
        assert!(denied.message().contains("`read`"));
        for bad in [MetadataMap::new(), with("Bearer nope"), with("Basic abc")] {
            let e = auth.authenticate(&bad, 0).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated);
            assert!(!e.message().contains("0123"));
        }
    }

    #[test]
    fn nobody_appends_to_reserved_logs() {
        let anyone = Principal::anonymous();
        anyone.authorize(Role::Read, Some("_system")).unwrap();
        let e = anyone.authorize(Role::Append, Some("_system")).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
    }
}
