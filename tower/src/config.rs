//! What the layer captures and how it names it: set with [`Builder`],
//! fixed once built.

use std::sync::Arc;

use http::{HeaderName, Method};
use ipnet::IpNet;

use crate::recorder::Recorder;
use crate::route::{Template, is_dotted_verb};
use crate::service::AuditLayer;
use crate::source::{Source, SourceFn};

/// A configuration the builder refused, naming the option and the value.
#[derive(Debug, thiserror::Error)]
#[error("stele-tower {option}: {reason}")]
pub struct ConfigError {
    /// The option at fault, such as `trusted_proxies`.
    pub option: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

/// A configured route: its template and, when set, the action its calls
/// record instead of the derived one.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub method: Option<Method>,
    pub template: Template,
    pub action: Option<String>,
}

/// The layer's settings.
#[derive(Debug)]
pub(crate) struct Config {
    pub methods: Vec<Method>,
    pub ignore: Vec<Template>,
    pub routes: Vec<Route>,
    pub actor: Source,
    pub tenant: Option<Source>,
    pub trusted_proxies: Vec<IpNet>,
    pub source: String,
}

impl Config {
    /// Whether a call of `method` to `path` (whose template is `template`)
    /// is captured.
    pub fn captures(&self, method: &Method, template: &str, path: &str) -> bool {
        self.methods.contains(method)
            && !self
                .ignore
                .iter()
                .any(|t| t.as_str() == template || t.matches(path).is_some())
    }

    /// The first configured route matching the call.
    pub fn route(&self, method: &Method, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            r.method.as_ref().is_none_or(|m| m == method) && r.template.matches(path).is_some()
        })
    }
}

/// Builds an [`AuditLayer`]: `AuditLayer::builder(recorder)`, options,
/// then [`Builder::build`].
#[derive(Debug)]
pub struct Builder {
    recorder: Recorder,
    config: Config,
    proxies: Vec<String>,
}

impl Builder {
    pub(crate) fn new(recorder: Recorder) -> Builder {
        Builder {
            recorder,
            config: Config {
                methods: vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
                ignore: Vec::new(),
                routes: Vec::new(),
                actor: Source::JwtClaim("sub".into()),
                tenant: None,
                trusted_proxies: Vec::new(),
                source: String::new(),
            },
            proxies: Vec::new(),
        }
    }

    /// Where the actor's id comes from; the bearer JWT's `sub` claim by
    /// default.
    #[must_use]
    pub fn actor(mut self, source: Source) -> Builder {
        self.config.actor = source;
        self
    }

    /// The actor's id from a claim of the bearer JWT.
    #[must_use]
    pub fn actor_claim(self, claim: &str) -> Builder {
        self.actor(Source::JwtClaim(claim.into()))
    }

    /// The actor's id from a header, such as `x-user-id`.
    #[must_use]
    pub fn actor_header(self, name: HeaderName) -> Builder {
        self.actor(Source::Header(name))
    }

    /// The actor's id from a function of the request's head.
    #[must_use]
    pub fn actor_fn(
        self,
        f: impl Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Builder {
        let f: SourceFn = Arc::new(f);
        self.actor(Source::Fn(f))
    }

    /// Where the tenant comes from (none by default).
    #[must_use]
    pub fn tenant(mut self, source: Source) -> Builder {
        self.config.tenant = Some(source);
        self
    }

    /// Also captures `GET` and `HEAD` (reads are not captured by default).
    #[must_use]
    pub fn capture_reads(mut self, on: bool) -> Builder {
        self.config
            .methods
            .retain(|m| *m != Method::GET && *m != Method::HEAD);
        if on {
            self.config.methods.extend([Method::GET, Method::HEAD]);
        }
        self
    }

    /// Never captures calls to `pattern`, a path or a template
    /// (`/healthz`, `/v1/webhooks/{id}/trigger`).
    #[must_use]
    pub fn ignore(mut self, pattern: &str) -> Builder {
        self.config.ignore.push(Template::parse(pattern));
        self
    }

    /// A route template for services not routed by axum (hyper, tonic),
    /// whose calls then name their resource from its parameters; `method`
    /// `None` for any.
    #[must_use]
    pub fn route(mut self, method: Option<Method>, template: &str) -> Builder {
        self.config.routes.push(Route {
            method,
            template: Template::parse(template),
            action: None,
        });
        self
    }

    /// Calls of `method template` record `action` instead of the derived
    /// one (`POST /workflows/{id}/run` as `workflow.trigger`).
    #[must_use]
    pub fn action(mut self, method: Method, template: &str, action: &str) -> Builder {
        self.config.routes.push(Route {
            method: Some(method),
            template: Template::parse(template),
            action: Some(action.into()),
        });
        self
    }

    /// Proxies whose `X-Forwarded-For` is believed: addresses or networks
    /// (`10.0.0.0/8`, `192.0.2.7`). None by default: the connection's peer
    /// is the client.
    #[must_use]
    pub fn trusted_proxies<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        proxies: I,
    ) -> Builder {
        self.proxies.extend(proxies.into_iter().map(Into::into));
        self
    }

    /// The event's `source`: the service's name.
    #[must_use]
    pub fn source(mut self, name: &str) -> Builder {
        self.config.source = name.into();
        self
    }

    /// The layer.
    ///
    /// # Errors
    /// A trusted proxy that is not an address or network, an action that is
    /// not a dotted verb.
    pub fn build(mut self) -> Result<AuditLayer, ConfigError> {
        for proxy in &self.proxies {
            let net = proxy
                .parse::<IpNet>()
                .or_else(|_| proxy.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError {
                    option: "trusted_proxies",
                    reason: format!("{proxy:?} is not an IP address or network"),
                })?;
            self.config.trusted_proxies.push(net);
        }
        for route in &self.config.routes {
            if let Some(action) = &route.action
                && !is_dotted_verb(action)
            {
                return Err(ConfigError {
                    option: "action",
                    reason: format!(
                        "{action:?} is not a dotted verb such as `workflow.trigger` (letters, digits, `_`, `-`, separated by single dots)"
                    ),
                });
            }
        }
        Ok(AuditLayer::new(Arc::new(self.config), self.recorder))
    }
}
