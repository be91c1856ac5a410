//! What every call handler shares: the store, the tokens, the audit trail,
//! the limits and the shutdown signal; and the two checks every call starts
//! with (who is calling, may they do this), which record their failures.

use std::collections::HashMap;
use std::sync::Arc;

use stele_engine::{Appended, Event, Log, Store};
use tokio::sync::{Semaphore, watch};
use tonic::{Request, Status};

use crate::audit::{AuditTrail, Caller};
use crate::auth::{Auth, Principal, Role};
use crate::config::LimitsConfig;
use crate::status::blocking;

/// An authenticated caller of one call (or one stream).
#[derive(Debug, Clone)]
pub struct Session {
    /// Name and address, for the audit trail.
    pub caller: Caller,
    /// Roles and logs.
    pub principal: Arc<Principal>,
    /// The gRPC method, `Append` or `CreateLog`.
    pub method: &'static str,
}

/// State shared by the handlers.
#[derive(Debug, Clone)]
pub struct Context {
    /// The data directory.
    pub store: Arc<Store>,
    /// The configured tokens.
    pub auth: Auth,
    /// `_system` writer.
    pub audit: AuditTrail,
    /// Request and subscription limits.
    pub limits: LimitsConfig,
    /// Becomes `true` when the server starts shutting down: streams end.
    pub shutdown: watch::Receiver<bool>,
    /// One permit per open subscription.
    pub subscribers: Arc<Semaphore>,
    /// The GitHub webhook secret of each log that accepts deliveries.
    pub github_secrets: Arc<HashMap<String, String>>,
    /// The name checkpoints are signed as (`Config::origin`).
    pub origin: Arc<str>,
}

impl Context {
    /// Authenticates the caller of `request` for `method`.
    ///
    /// # Errors
    /// `UNAUTHENTICATED`, recorded in `_system`.
    pub fn authenticate<T>(
        &self,
        request: &Request<T>,
        method: &'static str,
    ) -> Result<Session, Status> {
        let peer = request.remote_addr();
        match self
            .auth
            .authenticate(request.metadata(), self.store.now_ns())
        {
            Ok(principal) => Ok(Session {
                caller: Caller {
                    name: principal.name.clone(),
                    peer,
                },
                principal,
                method,
            }),
            Err(status) => {
                let caller = Caller {
                    name: String::new(),
                    peer,
                };
                self.audit.auth_failure(&caller, method, &status);
                Err(status)
            }
        }
    }

    /// Checks that the session has `role` on `log`.
    ///
    /// # Errors
    /// `PERMISSION_DENIED`, recorded in `_system`.
    pub fn authorize(
        &self,
        session: &Session,
        role: Role,
        log: Option<&str>,
    ) -> Result<(), Status> {
        session
            .principal
            .authorize(role, log)
            .inspect_err(|status| {
                self.audit
                    .auth_failure(&session.caller, session.method, status);
            })
    }

    /// Authenticates and authorizes in one step.
    ///
    /// # Errors
    /// As [`Context::authenticate`] and [`Context::authorize`].
    pub fn admit<T>(
        &self,
        request: &Request<T>,
        method: &'static str,
        role: Role,
        log: Option<&str>,
    ) -> Result<Session, Status> {
        let session = self.authenticate(request, method)?;
        self.authorize(&session, role, log)?;
        Ok(session)
    }

    /// The log `name`: at once when it is open, else opened (and recovered
    /// on first use) off the async threads. Most calls find it open, and
    /// skip a hand-off to a blocking thread, which costs milliseconds when
    /// the cores are busy.
    ///
    /// # Errors
    /// `NOT_FOUND`; the engine's status when recovery fails.
    pub async fn log(&self, name: &str) -> Result<Arc<Log>, Status> {
        if let Some(log) = self.store.open_log(name) {
            return Ok(log);
        }
        let store = self.store.clone();
        let name = name.to_string();
        blocking(move || store.log(&name)).await
    }

    /// Appends `events` to the log `name` as one atomic batch and waits
    /// until it is durable (both front doors' unary append).
    ///
    /// # Errors
    /// `NOT_FOUND`; the engine's status (an invalid event names
    /// `events[i].field`; nothing of the batch is stored).
    pub async fn append(&self, name: &str, events: Vec<Event>) -> Result<Appended, Status> {
        let log = self.log(name).await?;
        blocking(move || log.append_batch(&events)).await
    }
}
