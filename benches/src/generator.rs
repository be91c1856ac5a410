//! The deterministic synthetic audit event generator.
//!
//! [`Generator::new`] builds a fixed population from its seed; every call to
//! [`Generator::next_event`] then draws one event. The same seed always gives
//! the same events (the random stream is ChaCha8 from `rand_chacha`, whose
//! output is stable across releases). The distribution:
//!
//! - **Actors**: 5,000 people (`first.last`, kind `user`), chosen by Zipf
//!   (s = 1.05), act in 86% of events; 60 service accounts
//!   (`svc-<role>-<n>`, kind `service`, Zipf s = 1.0) in 12%, each only in
//!   its role's areas (CI, deploy, directory sync, bots, exporters); 2
//!   system actors (kind `system`, no IP or agent) in 2%, in billing,
//!   alerts, tokens, audit, policy and runner areas. `display_name` is
//!   present on events from the web UI only.
//! - **Tenants**: 50 (`acme`, `globex`, …). Each actor has a home tenant
//!   drawn by Zipf (s = 1.1); 90% of a person's events are in it, the rest
//!   (and all of the system actors') in another Zipf-drawn tenant.
//! - **Actions**: 301 dotted verbs in 29 product areas
//!   ([`crate::catalog::AREAS`]: `git.push`, `workflow.delete`,
//!   `user.login`, …). Areas are weighted (git 22%, workflow 14%, user 12%,
//!   pull requests 8%, …), verbs inside an area Zipf (s = 1.2), most common
//!   first; `source` is the area's emitting system.
//! - **Resources** match the area: a repository `tenant/repo` (Zipf over 300
//!   per tenant), a workflow file in one, a pull request `tenant/repo#n`, a
//!   team, a secret, a token, a package, an environment, an endpoint…
//! - **Outcome**: 92% success, 4% failure, 3.5% denied, 0.5% unknown (verbs
//!   that name a failure or a block always fail or are denied); failures
//!   and denials carry a `reason` from a short list, 3% of successes one too.
//! - **Where from**: each person has 1–3 addresses (5% of them IPv6) and 1–2
//!   of 12 user agents (Zipf, git first); git verbs always use git. Services
//!   act from one private address with one agent. On web UI events people
//!   carry a session id that changes every 1–600 of those events and at
//!   each login.
//! - **Ids**: a `correlation_id` (40 random bits) shared by a run of 1–7
//!   events of the same actor, on every service and system event and on 25%
//!   of people's; a random 64-bit hex `request_id` on events of HTTP
//!   sources (not git transport, webhooks or system actors). The event `id`
//!   is left empty: the engine assigns a UUIDv7, as it does for most real
//!   clients.
//! - **Time**: a "now" that starts at 2026-01-05T09:00:00Z and advances by an
//!   exponential step (mean 2 ms) per event; the event `time` (millisecond
//!   precision) lags it by 0–200 ms (85%), up to 30 s (12%), 1–15 min (2%,
//!   late delivery), or leads it by up to 2 s (1%, a fast clock): events are
//!   out of time order, as DESIGN.md requires of tests.
//! - **duration_ms** on 40% of events: log-normal, median 30 ms.
//! - **message** from the verb's phrase: `alice.smith deleted workflow CI`.
//! - **details** on 60% of events: a nested JSON object shaped by the area
//!   ([`Shape`]): git transport and ref, login method and MFA, a workflow
//!   run (ids growing with time; a random 40-hex head SHA on run verbs),
//!   old/new setting values, role changes, token scopes, webhook delivery
//!   status, package versions and sizes, HTTP status and rate limit…
//!   Failed and denied events add an `error` object.
//!
//! Serialised with `serde_json::to_string`, events average about 455 bytes
//! (5th–95th percentile 345–565).
//!
//! [`Profile::Rich`] draws the same population with the nested `details`
//! of [`crate::rich`] on every event: about 725 bytes.

use rand::distributions::WeightedIndex;
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp, LogNormal, Zipf};
use serde_json::{Map, Value, json};
use stele_engine::{Actor, ActorKind, Event, Outcome, Resource};

use crate::catalog::{
    AREAS, Area, COUNTRIES, DENIED_REASONS, FAILURE_REASONS, FIRST_NAMES, LAST_NAMES,
    SERVICE_AGENTS, SERVICE_ROLES, SUCCESS_REASONS, SYSTEM_AREAS, Shape, TENANT_NAMES, USER_AGENTS,
    WORDS,
};
use crate::rich::{self, RichContext};

/// People in the population.
pub const USERS: usize = 5_000;
/// Service accounts in the population.
pub const SERVICES: usize = 60;
/// Ids of the system actors.
const SYSTEM_ACTORS: &[&str] = &["stele-scheduler", "platform-policy"];
/// Repositories per tenant.
const REPOS: u64 = 300;
/// 2026-01-05T09:00:00Z in microseconds: where "now" starts.
const START_US: i64 = 1_767_603_600_000_000;

/// Workflow files and their names.
const WORKFLOWS: &[(&str, &str)] = &[
    ("ci.yml", "CI"),
    ("deploy.yml", "Deploy"),
    ("codeql.yml", "CodeQL"),
    ("release.yml", "Release"),
    ("nightly.yml", "Nightly"),
    ("lint.yml", "Lint"),
];
/// Environments deployments go to.
const ENVIRONMENTS: &[&str] = &["production", "staging", "qa", "preview"];
/// Actions secrets.
const SECRETS: &[&str] = &[
    "NPM_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "DOCKERHUB_TOKEN",
    "SLACK_WEBHOOK_URL",
    "SENTRY_DSN",
    "GCP_SA_KEY",
];
/// Installed apps: slug and name.
const APPS: &[(&str, &str)] = &[
    ("dependabot", "Dependabot"),
    ("renovate", "Renovate"),
    ("codecov", "Codecov"),
    ("slack", "Slack"),
    ("jira", "Jira Cloud"),
    ("sentry", "Sentry"),
    ("snyk", "Snyk"),
    ("linear", "Linear"),
];
/// Package ecosystems.
const ECOSYSTEMS: &[&str] = &["npm", "container", "maven", "pypi", "nuget", "rubygems"];
/// API endpoints called directly.
const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/repos/{owner}/{repo}/pulls"),
    ("GET", "/orgs/{org}/members"),
    ("POST", "/graphql"),
    ("GET", "/repos/{owner}/{repo}/contents/{path}"),
    ("GET", "/search/code"),
    ("PATCH", "/repos/{owner}/{repo}"),
    ("GET", "/orgs/{org}/audit-log"),
    ("DELETE", "/repos/{owner}/{repo}/actions/caches"),
];
/// Token scopes.
const SCOPES: &[&str] = &[
    "repo",
    "workflow",
    "read:org",
    "write:packages",
    "admin:repo_hook",
    "gist",
];
/// Organisation and team roles.
const ROLES: &[&str] = &["member", "maintainer", "admin", "billing_manager", "owner"];
/// Settings that change, with the values they take.
const SETTINGS: &[(&str, &[&str])] = &[
    ("visibility", &["private", "internal", "public"]),
    ("default_branch", &["main", "master", "develop", "trunk"]),
    ("merge_method", &["merge", "squash", "rebase"]),
    ("required_reviews", &["0", "1", "2"]),
    ("secret_scanning", &["disabled", "enabled"]),
    ("retention_days", &["30", "90", "365"]),
];
/// Labels on issues and pull requests.
const LABELS: &[&str] = &["bug", "enhancement", "p1", "p2", "security", "dependencies"];

/// One actor and its state between events.
#[derive(Debug)]
struct Persona {
    id: String,
    display_name: String,
    kind: ActorKind,
    tenant: usize,
    ips: Vec<String>,
    agents: Vec<&'static str>,
    country: &'static str,
    /// Indices into `AREAS` that it acts in; empty means every area.
    areas: Vec<usize>,
    session: String,
    session_left: u32,
    correlation: String,
    correlation_left: u32,
}

/// Which shape of events a [`Generator`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// The distribution of the module docs: about 455 bytes of JSON.
    #[default]
    Standard,
    /// The same population, with the nested `details` of [`crate::rich`]
    /// on every event: about 725 bytes of JSON.
    Rich,
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Profile, String> {
        match s {
            "standard" => Ok(Profile::Standard),
            "rich" => Ok(Profile::Rich),
            other => Err(format!(
                "unknown profile `{other}`: expected standard or rich"
            )),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Standard => "standard",
            Profile::Rich => "rich",
        })
    }
}

/// Deterministic generator of realistic audit events; see the module docs.
#[derive(Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    profile: Profile,
    tenants: Vec<String>,
    /// The people (`..USERS`), then the service accounts, then the system
    /// actors.
    personas: Vec<Persona>,
    /// `area.verb` strings, by area then verb.
    actions: Vec<Vec<String>>,
    user_zipf: Zipf<f64>,
    service_zipf: Zipf<f64>,
    tenant_zipf: Zipf<f64>,
    repo_zipf: Zipf<f64>,
    verb_zipf: Vec<Zipf<f64>>,
    area_weights: WeightedIndex<u32>,
    step_us: Exp<f64>,
    duration: LogNormal<f64>,
    /// The moving "now", in microseconds since the epoch.
    now_us: i64,
}

fn zipf(n: usize, s: f64) -> Zipf<f64> {
    Zipf::new(n as u64, s).expect("n ≥ 1 and s > 0")
}

fn area_index(name: &str) -> usize {
    AREAS
        .iter()
        .position(|a| a.name == name)
        .expect("the catalog names only its own areas")
}

impl Generator {
    /// A generator of the standard profile whose whole output is fixed by
    /// `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator::with_profile(seed, Profile::Standard)
    }

    /// A generator of `profile` whose whole output is fixed by `seed`.
    pub fn with_profile(seed: u64, profile: Profile) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tenants: Vec<String> = TENANT_NAMES.iter().map(|t| (*t).to_string()).collect();
        let tenant_zipf = zipf(TENANT_NAMES.len(), 1.1);
        let mut taken = std::collections::HashSet::new();
        let mut personas: Vec<Persona> = (0..USERS)
            .map(|_| {
                let first = *FIRST_NAMES.choose(&mut rng).expect("not empty");
                let last = *LAST_NAMES.choose(&mut rng).expect("not empty");
                let mut id = format!("{first}.{last}");
                let mut n = 1;
                while !taken.insert(id.clone()) {
                    n += 1;
                    id = format!("{first}.{last}{n}");
                }
                let display_name = format!("{} {}", capitalise(first), capitalise(last));
                let ips = (0..rng.gen_range(1..=3))
                    .map(|_| public_ip(&mut rng))
                    .collect();
                let agents = (0..rng.gen_range(1..=2))
                    .map(|_| USER_AGENTS[rng.sample(zipf(USER_AGENTS.len(), 1.0)) as usize - 1])
                    .collect();
                let tenant = rng.sample(tenant_zipf) as usize - 1;
                Persona {
                    id,
                    display_name,
                    kind: ActorKind::User,
                    tenant,
                    ips,
                    agents,
                    country: pick(&mut rng, COUNTRIES),
                    areas: Vec::new(),
                    session: String::new(),
                    session_left: 0,
                    correlation: String::new(),
                    correlation_left: 0,
                }
            })
            .collect();
        personas.extend((0..SERVICES).map(|i| {
            let (role, areas) = SERVICE_ROLES[i % SERVICE_ROLES.len()];
            Persona {
                id: format!("svc-{role}-{}", i / SERVICE_ROLES.len() + 1),
                display_name: format!("{} service {}", role, i / SERVICE_ROLES.len() + 1),
                kind: ActorKind::Service,
                tenant: rng.sample(tenant_zipf) as usize - 1,
                ips: vec![format!(
                    "10.{}.{}.{}",
                    rng.gen_range(0..=3),
                    rng.r#gen::<u8>(),
                    rng.gen_range(2..=254)
                )],
                agents: vec![SERVICE_AGENTS[i % SERVICE_AGENTS.len()]],
                country: COUNTRIES[0],
                areas: areas.iter().map(|a| area_index(a)).collect(),
                session: String::new(),
                session_left: 0,
                correlation: String::new(),
                correlation_left: 0,
            }
        }));
        personas.extend(SYSTEM_ACTORS.iter().map(|id| Persona {
            id: (*id).to_string(),
            display_name: String::new(),
            kind: ActorKind::System,
            tenant: 0,
            ips: Vec::new(),
            agents: Vec::new(),
            country: COUNTRIES[0],
            areas: SYSTEM_AREAS.iter().map(|a| area_index(a)).collect(),
            session: String::new(),
            session_left: 0,
            correlation: String::new(),
            correlation_left: 0,
        }));
        Generator {
            rng,
            profile,
            tenants,
            personas,
            actions: AREAS
                .iter()
                .map(|a| {
                    a.verbs
                        .iter()
                        .map(|(verb, _)| format!("{}.{verb}", a.name))
                        .collect()
                })
                .collect(),
            user_zipf: zipf(USERS, 1.05),
            service_zipf: zipf(SERVICES, 1.0),
            tenant_zipf,
            repo_zipf: zipf(REPOS as usize, 1.1),
            verb_zipf: AREAS.iter().map(|a| zipf(a.verbs.len(), 1.2)).collect(),
            area_weights: WeightedIndex::new(AREAS.iter().map(|a| a.weight))
                .expect("positive weights"),
            step_us: Exp::new(1.0 / 2_000.0).expect("positive rate"),
            duration: LogNormal::new(30f64.ln(), 1.3).expect("positive sigma"),
            now_us: START_US,
        }
    }

    /// `n` consecutive events.
    pub fn events(&mut self, n: usize) -> Vec<Event> {
        (0..n).map(|_| self.next_event()).collect()
    }

    /// The next event.
    pub fn next_event(&mut self) -> Event {
        self.now_us += self.rng.sample(self.step_us) as i64 + 1;
        let time_ms = (self.now_us + self.skew_us()) / 1_000;

        let roll: f64 = self.rng.r#gen();
        let who = if roll < 0.86 {
            self.rng.sample(self.user_zipf) as usize - 1
        } else if roll < 0.98 {
            USERS + self.rng.sample(self.service_zipf) as usize - 1
        } else {
            USERS + SERVICES + self.rng.gen_range(0..SYSTEM_ACTORS.len())
        };
        let persona = &self.personas[who];
        let area_i = if persona.areas.is_empty() {
            self.rng.sample(&self.area_weights)
        } else {
            *persona.areas.choose(&mut self.rng).expect("not empty")
        };
        let area = &AREAS[area_i];
        let verb_i = self.rng.sample(self.verb_zipf[area_i]) as usize - 1;
        let (verb, phrase) = area.verbs[verb_i];
        let country = persona.country;
        let home = match persona.kind {
            ActorKind::User => self.rng.gen_bool(0.9),
            ActorKind::Service => true,
            ActorKind::System => false,
        };
        let tenant_i = if home {
            persona.tenant
        } else {
            self.rng.sample(self.tenant_zipf) as usize - 1
        };
        let tenant = self.tenants[tenant_i].clone();
        let http =
            !matches!(area.source, "git-gateway" | "hookshot") && persona.kind != ActorKind::System;
        let mut actor = self.actor(who, area, verb);
        let repo = self.repo(&tenant);
        let resource = self.resource(area, &tenant, &repo, &actor);
        let outcome = self.outcome(verb);
        let reason = match outcome {
            Outcome::Failure => pick(&mut self.rng, FAILURE_REASONS),
            Outcome::Denied => pick(&mut self.rng, DENIED_REASONS),
            _ if self.rng.gen_bool(0.03) => pick(&mut self.rng, SUCCESS_REASONS),
            _ => "",
        };
        let rich = self.profile == Profile::Rich;
        // Rich events carry the objects of `rich` instead of the area's
        // own details on a share of them.
        let area_details = if rich { 0.25 } else { 0.6 };
        let mut details = if self.rng.gen_bool(area_details) {
            self.details(area, verb, country)
        } else {
            Map::new()
        };
        if rich {
            let cx = RichContext {
                country,
                session_id: &actor.session_id,
                resource: &resource,
                outcome,
                verb,
            };
            rich::extend(&mut self.rng, &mut details, &cx);
            // The client is described in `details.client` instead.
            actor.user_agent.clear();
        }
        if matches!(outcome, Outcome::Failure | Outcome::Denied) {
            let status = if outcome == Outcome::Denied { 403 } else { 500 };
            details.insert(
                "error".into(),
                json!({"status": status, "code": reason.replace(' ', "_")}),
            );
        }
        let shown = if resource.name.is_empty() {
            &resource.id
        } else {
            &resource.name
        };
        let message = format!("{} {}", actor.id, phrase.replace("{r}", shown));
        let request_id = if rich {
            rich::uuid(&mut self.rng)
        } else if http {
            format!("{:016x}", self.rng.r#gen::<u64>())
        } else {
            String::new()
        };
        let correlation_id = self.correlation(who);
        let duration_ms = self
            .rng
            .gen_bool(0.4)
            .then(|| (self.rng.sample(self.duration) as u64).min(600_000));
        Event {
            id: String::new(),
            time: Some(time_ms * 1_000_000),
            tenant,
            actor,
            action: self.actions[area_i][verb_i].clone(),
            resource,
            outcome: Some(outcome),
            reason: reason.to_string(),
            source: area.source.to_string(),
            correlation_id,
            request_id,
            duration_ms,
            message,
            details: (!details.is_empty()).then_some(details),
        }
    }

    /// How far the event time is from "now", in microseconds.
    fn skew_us(&mut self) -> i64 {
        let roll: f64 = self.rng.r#gen();
        if roll < 0.85 {
            -self.rng.gen_range(0..=200_000)
        } else if roll < 0.97 {
            -self.rng.gen_range(0..=30_000_000)
        } else if roll < 0.99 {
            -self.rng.gen_range(60_000_000..=900_000_000)
        } else {
            self.rng.gen_range(0..=2_000_000)
        }
    }

    fn actor(&mut self, who: usize, area: &Area, verb: &str) -> Actor {
        let (rng, p) = (&mut self.rng, &mut self.personas[who]);
        if p.kind == ActorKind::System {
            return Actor {
                id: p.id.clone(),
                kind: Some(p.kind),
                ..Actor::default()
            };
        }
        let ip = p.ips.choose(rng).expect("people and services have an IP");
        let user_agent = if area.shape == Shape::Git && p.kind == ActorKind::User {
            USER_AGENTS[0]
        } else {
            p.agents
                .choose(rng)
                .expect("people and services have agents")
        };
        let web = area.source == "web";
        if p.kind == ActorKind::User && (p.session_left == 0 || verb == "login") {
            p.session = format!("s_{:012x}", rng.r#gen::<u64>() >> 16);
            p.session_left = rng.gen_range(1..=600);
        }
        let session_id = if p.kind == ActorKind::User && web {
            p.session_left -= 1;
            p.session.clone()
        } else {
            String::new()
        };
        Actor {
            id: p.id.clone(),
            kind: Some(p.kind),
            display_name: if web {
                p.display_name.clone()
            } else {
                String::new()
            },
            ip: ip.clone(),
            user_agent: user_agent.to_string(),
            session_id,
        }
    }

    /// The correlation id of the actor's current job, starting a new job
    /// when the last one is over; none for half of people's events (one-off
    /// interactive actions).
    fn correlation(&mut self, who: usize) -> String {
        if who < USERS && self.rng.gen_bool(0.75) {
            return String::new();
        }
        let id = self.rng.r#gen::<u64>() & 0xff_ffff_ffff;
        let len = self.rng.gen_range(1..=7);
        let p = &mut self.personas[who];
        if p.correlation_left == 0 {
            p.correlation = format!("c-{id:010x}");
            p.correlation_left = len;
        }
        p.correlation_left -= 1;
        p.correlation.clone()
    }

    fn outcome(&mut self, verb: &str) -> Outcome {
        if verb.ends_with("failed") || verb.ends_with("failure") {
            return Outcome::Failure;
        }
        if verb.ends_with("block") || verb == "rate_limited" {
            return Outcome::Denied;
        }
        match self.rng.gen_range(0..1000) {
            0..920 => Outcome::Success,
            920..960 => Outcome::Failure,
            960..995 => Outcome::Denied,
            _ => Outcome::Unknown,
        }
    }

    /// A repository of `tenant`: `tenant/name`.
    fn repo(&mut self, tenant: &str) -> String {
        let i = self.rng.sample(self.repo_zipf) as usize - 1;
        let w = WORDS.len();
        if i < w {
            format!("{tenant}/{}", WORDS[i])
        } else {
            format!("{tenant}/{}-{}", WORDS[i % w], WORDS[(i / w + i) % w])
        }
    }

    fn resource(&mut self, area: &Area, tenant: &str, repo: &str, actor: &Actor) -> Resource {
        let rng = &mut self.rng;
        let word = *WORDS.choose(rng).expect("not empty");
        let number = rng.gen_range(1..=4_000);
        let repo_name = repo.split_once('/').map_or(repo, |(_, name)| name);
        let (id, name) = match area.kind {
            "repository" => (repo.to_string(), String::new()),
            "branch" => {
                let branch = pick(rng, &["main", "release/*", "develop", "production"]);
                (format!("{repo}:{branch}"), branch.to_string())
            }
            "user" => (actor.id.clone(), String::new()),
            "workflow" => {
                let (file, name) = WORKFLOWS[rng.sample(zipf(WORKFLOWS.len(), 1.0)) as usize - 1];
                (format!("{repo}/.github/workflows/{file}"), name.to_string())
            }
            "pull_request" | "issue" => (format!("{repo}#{number}"), String::new()),
            "discussion" => (format!("{repo}/discussions/{}", number / 8), String::new()),
            "project" => (
                format!("{tenant}/projects/{}", number % 40 + 1),
                format!("{} roadmap", capitalise(word)),
            ),
            "organization" | "billing_account" => (tenant.to_string(), String::new()),
            "team" => (format!("{tenant}/{word}-team"), format!("{word}-team")),
            "secret" => {
                let secret = pick(rng, SECRETS);
                (format!("{repo}/{secret}"), secret.to_string())
            }
            "token" => (
                format!("tok_{:06}", number * 37 % 100_000),
                format!("{word} automation"),
            ),
            "deploy_key" => (format!("key_{}", number * 13), format!("deploy@{word}")),
            "webhook" => (
                format!("hook_{}", 400_000 + number * 7),
                pick(
                    rng,
                    &["hooks.slack.com", "ci.example.com", "events.pagerduty.com"],
                )
                .to_string(),
            ),
            "app" => {
                let (slug, name) = *APPS.choose(rng).expect("not empty");
                (format!("app/{slug}"), name.to_string())
            }
            "package" => {
                let ecosystem = pick(rng, ECOSYSTEMS);
                (
                    format!("{ecosystem}:@{tenant}/{word}"),
                    format!("@{tenant}/{word}"),
                )
            }
            "environment" => {
                let env = pick(rng, ENVIRONMENTS);
                (format!("{repo}:{env}"), env.to_string())
            }
            "release" => {
                let version = format!("v{}.{}.{}", number % 4 + 1, number % 13, number % 7);
                (format!("{repo}@{version}"), version)
            }
            "runner" => (
                format!("{tenant}/runner-{}", number % 64),
                format!("runner-{}", number % 64),
            ),
            "codespace" => (
                format!("{}-{repo_name}-{:04x}", actor.id, number),
                String::new(),
            ),
            "alert" => (format!("{repo}/alerts/{}", number / 4), String::new()),
            "endpoint" => {
                let (method, path) = *ENDPOINTS.choose(rng).expect("not empty");
                (format!("{method} {path}"), String::new())
            }
            "audit_stream" => {
                let sink = pick(rng, &["splunk", "datadog", "s3", "sentinel"]);
                (format!("{tenant}/streams/{sink}"), sink.to_string())
            }
            "policy" => (
                format!("{tenant}/policies/{word}"),
                format!("{word} policy"),
            ),
            "seat" => (format!("{tenant}/seats/{}", actor.id), String::new()),
            other => unreachable!("the catalog has no resource kind `{other}`"),
        };
        Resource {
            kind: area.kind.to_string(),
            id,
            name,
        }
    }

    fn details(&mut self, area: &Area, verb: &str, country: &str) -> Map<String, Value> {
        let rng = &mut self.rng;
        // Run ids grow with time: the runs referred to are recent ones.
        let run_base = 12_000_000_000i64;
        let value = match area.shape {
            Shape::Git => json!({
                "transport": pick(rng, &["ssh", "https"]),
                "ref": format!("refs/heads/{}", pick(rng, &["main", "develop", "feature/login", "fix/flaky-test"])),
                "commits": verb.contains("push").then(|| rng.gen_range(1..=12)),
            }),
            Shape::Auth => json!({
                "method": pick(rng, &["password", "passkey", "saml", "oauth"]),
                "mfa": {"type": pick(rng, &["totp", "webauthn", "sms"])},
                "country": country,
            }),
            Shape::Workflow => json!({
                "run": {
                    "id": run_base + (self.now_us - START_US) / 10_000 - rng.gen_range(0..500),
                    "trigger": pick(rng, &["push", "pull_request", "schedule", "workflow_dispatch"]),
                },
                "head_sha": matches!(verb, "run" | "rerun" | "dispatch" | "cancel" | "approve").then(|| {
                    format!("{:016x}{:016x}{:08x}", rng.r#gen::<u64>(), rng.r#gen::<u64>(), rng.r#gen::<u32>())
                }),
            }),
            Shape::Review => json!({
                "labels": [pick(rng, LABELS)],
                "base_ref": (area.name == "pull_request").then_some("main"),
            }),
            Shape::Settings => {
                let (setting, values) = SETTINGS[rng.gen_range(0..SETTINGS.len())];
                json!({"change": {
                    "setting": setting,
                    "old": pick(rng, values),
                    "new": pick(rng, values),
                }})
            }
            Shape::Membership => json!({
                "user": self.personas[rng.gen_range(0..USERS)].id,
                "role": {"old": pick(rng, ROLES), "new": pick(rng, ROLES)},
            }),
            Shape::Credential => {
                let n = rng.gen_range(1..=3);
                let scopes: Vec<&str> = SCOPES.choose_multiple(rng, n).copied().collect();
                json!({"scopes": scopes, "expires_in_days": pick(rng, &[7, 30, 90, 365])})
            }
            Shape::Webhook => json!({
                "event": pick(rng, &["push", "pull_request", "release", "workflow_run"]),
                "delivery": {
                    "status": if rng.gen_bool(0.95) { 200 } else { 502 },
                    "duration_ms": rng.gen_range(20..900),
                },
            }),
            Shape::Integration => json!({
                "permissions": {"contents": pick(rng, &["read", "write"])},
                "repository_selection": pick(rng, &["all", "selected"]),
            }),
            Shape::Artifact => json!({
                "version": format!("{}.{}.{}", rng.gen_range(0..5), rng.gen_range(0..20), rng.gen_range(0..10)),
                "size_bytes": rng.gen_range(10_000..50_000_000),
            }),
            Shape::Deployment => json!({
                "ref": format!("v{}.{}.{}", rng.gen_range(1..5), rng.gen_range(0..20), rng.gen_range(0..10)),
                "wait_timer_min": pick(rng, &[0, 5, 30]),
            }),
            Shape::Runner => json!({
                "os": pick(rng, &["linux", "windows", "macos"]),
                "labels": ["self-hosted", pick(rng, &["gpu", "large", "docker"])],
            }),
            Shape::Billing => json!({
                "plan": pick(rng, &["team", "business", "enterprise"]),
                "amount": {"value": rng.gen_range(100..100_000), "currency": "USD"},
            }),
            Shape::Alert => json!({
                "severity": pick(rng, &["low", "medium", "high", "critical"]),
                "package": format!("{}-{}", pick(rng, WORDS), pick(rng, &["utils", "parser", "client"])),
            }),
            Shape::Request => json!({
                "http": {
                    "status": if rng.gen_bool(0.9) { 200 } else { 429 },
                    "bytes": rng.gen_range(200..200_000),
                },
                "rate_limit_remaining": rng.gen_range(0..5_000),
            }),
        };
        match value {
            Value::Object(mut map) => {
                map.retain(|_, v| !v.is_null());
                map
            }
            _ => unreachable!("every shape is a JSON object"),
        }
    }
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    *items.choose(rng).expect("not empty")
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// A public-looking address: mostly IPv4, one in ten IPv6.
fn public_ip(rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(0.05) {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.r#gen::<u16>(),
            rng.r#gen::<u16>(),
            rng.r#gen::<u16>()
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            rng.gen_range(11..=223),
            rng.r#gen::<u8>(),
            rng.r#gen::<u8>(),
            rng.gen_range(1..=254)
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use stele_engine::FsyncPolicy;

    use super::*;
    use crate::fixture::{TempLog, json_bytes, policy};

    #[test]
    fn mean_json_size_is_about_400_bytes() {
        let events = Generator::new(7).events(10_000);
        let mean = json_bytes(&events) / events.len() as u64;
        assert!((300..=500).contains(&mean), "mean JSON size {mean} bytes");
    }

    #[test]
    fn rich_events_are_about_725_bytes_and_all_carry_the_nested_shape() {
        let events = Generator::with_profile(7, Profile::Rich).events(10_000);
        let mean = json_bytes(&events) / events.len() as u64;
        assert!((680..=770).contains(&mean), "mean JSON size {mean} bytes");
        for key in ["request", "session", "client", "geo", "target"] {
            assert!(
                events
                    .iter()
                    .all(|e| e.details.as_ref().is_some_and(|d| d.contains_key(key))),
                "{key} missing"
            );
        }
        let share = |key: &str| {
            events
                .iter()
                .filter(|e| e.details.as_ref().is_some_and(|d| d.contains_key(key)))
                .count() as f64
                / events.len() as f64
        };
        assert!(
            (0.28..0.39).contains(&share("comment")),
            "comments {}",
            share("comment")
        );
        assert!(
            (0.25..0.35).contains(&share("labels")),
            "labels {}",
            share("labels")
        );
        let standard = Generator::new(7).events(10_000);
        assert_eq!(
            standard,
            Generator::with_profile(7, Profile::Standard).events(10_000)
        );
    }

    #[test]
    fn a_seed_fixes_the_events() {
        let a = Generator::new(42).events(2_000);
        assert_eq!(a, Generator::new(42).events(2_000));
        assert_ne!(a, Generator::new(43).events(2_000));
    }

    #[test]
    fn events_are_varied_and_out_of_time_order() {
        let events = Generator::new(3).events(20_000);
        let actions: HashSet<&str> = events.iter().map(|e| e.action.as_str()).collect();
        let tenants: HashSet<&str> = events.iter().map(|e| e.tenant.as_str()).collect();
        let kinds: HashSet<_> = events.iter().map(|e| e.actor.kind).collect();
        assert!(actions.len() > 200, "{} actions", actions.len());
        assert!(tenants.len() > 40, "{} tenants", tenants.len());
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(events.windows(2).any(|w| w[0].time > w[1].time));
        assert!(events.iter().all(|e| e.id.is_empty()));
    }

    #[test]
    fn every_event_passes_the_engines_validation() {
        let temp = TempLog::new(policy(FsyncPolicy::Never)).unwrap();
        let mut events = Generator::new(11).events(5_000);
        events.extend(Generator::with_profile(11, Profile::Rich).events(5_000));
        temp.append_all(&events, 1_000).unwrap();
        assert_eq!(temp.log.visible_seq(), 10_000);
    }
}
