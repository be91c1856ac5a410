//! Who is calling and what they may do: bearer tokens with roles and logs.
//!
//! A token is looked up by the SHA-256 of the presented secret, so the
//! comparison never leaks the secret through timing. With no tokens
//! configured every caller is the [`Principal::anonymous`] one, with every
//! role on every log (the server then only listens on loopback).
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

use crate::config::TokenConfig;

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
}

impl Principal {
    /// The caller of a server with no tokens: every role on every log.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            roles: vec![Role::Append, Role::Read, Role::Admin],
            logs: vec!["*".into()],
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

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    by_digest: HashMap<[u8; 32], Arc<Principal>>,
}

impl Auth {
    /// The tokens of a configuration.
    pub fn new(tokens: &[TokenConfig]) -> Auth {
        Auth {
            by_digest: tokens
                .iter()
                .map(|t| {
                    (
                        Sha256::digest(t.secret.as_bytes()).into(),
                        Arc::new(Principal {
                            name: t.name.clone(),
                            roles: t.roles.clone(),
                            logs: t.logs.clone(),
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

    /// The caller named by the request's `authorization: Bearer` metadata.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when it is missing, malformed or unknown.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Arc<Principal>, Status> {
        if self.is_open() {
            return Ok(Arc::new(Principal::anonymous()));
        }
        let header = metadata.get("authorization").ok_or_else(|| {
            Status::unauthenticated("missing `authorization: Bearer <token>` metadata")
        })?;
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
        self.by_digest
            .get(&digest)
            .cloned()
            .ok_or_else(|| Status::unauthenticated("unknown token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(&[TokenConfig {
            name: "ingest".into(),
            secret: "0123456789abcdef".into(),
            roles: vec![Role::Append],
            logs: vec!["audit".into(), "app-*".into()],
        }])
    }

    fn with(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn tokens_roles_and_logs() {
        let auth = auth();
        let p = auth.authenticate(&with("Bearer 0123456789abcdef")).unwrap();
        assert_eq!(p.name, "ingest");
        p.authorize(Role::Append, Some("audit")).unwrap();
        p.authorize(Role::Append, Some("app-web")).unwrap();
        let denied = p.authorize(Role::Append, Some("billing")).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("billing"));
        let denied = p.authorize(Role::Read, Some("audit")).unwrap_err();
        assert!(denied.message().contains("`read`"));
        for bad in [MetadataMap::new(), with("Bearer nope"), with("Basic abc")] {
            let e = auth.authenticate(&bad).unwrap_err();
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
