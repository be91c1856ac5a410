//! `stele append`: one event from flags; prints its receipt.

use std::io::Write;

use serde_json::Value;
use stele_client::{Actor, ActorKind, Client, Event, Outcome, Receipt, Resource};

use crate::fail::Failure;
use crate::filters::parse_time;
use crate::output::json_line;

/// Append one event
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  stele append --log audit --action workflow.delete --actor alice \\
      --resource workflow:42 --outcome success --message 'alice deleted workflow 42'
  stele append --log audit --action user.login --actor bob --ip 203.0.113.7 \\
      --outcome denied --reason 'bad password' --detail attempts=3")]
pub struct AppendArgs {
    /// Log to append to
    #[arg(long)]
    log: String,
    /// Dotted verb: git.push, workflow.delete
    #[arg(long)]
    action: String,
    /// Who did it
    #[arg(long, value_name = "ID")]
    actor: Option<String>,
    /// What kind of actor
    #[arg(long, value_enum, default_value = "user", requires = "actor")]
    actor_kind: KindArg,
    /// The actor's IP address
    #[arg(long, requires = "actor")]
    ip: Option<String>,
    /// What it was done to, as KIND:ID
    #[arg(long, value_name = "KIND:ID")]
    resource: Option<String>,
    /// How it ended: success, failure, denied, unknown
    #[arg(long)]
    outcome: Option<Outcome>,
    /// Why it failed, was denied, or was done
    #[arg(long)]
    reason: Option<String>,
    /// Human activity message
    #[arg(long)]
    message: Option<String>,
    /// Tenant
    #[arg(long)]
    tenant: Option<String>,
    /// The emitting system
    #[arg(long)]
    source: Option<String>,
    /// When it happened [default: now, set by the server]
    #[arg(long, value_name = "TIME")]
    time: Option<String>,
    /// Event id, for idempotent retries [default: a UUIDv7]
    #[arg(long)]
    id: Option<String>,
    /// A details entry KEY=VALUE; VALUE is JSON if it parses, else a string (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    detail: Vec<String>,
    /// Print the receipt as JSON
    #[arg(long)]
    json: bool,
}

/// `--actor-kind`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KindArg {
    User,
    Service,
    System,
}

impl AppendArgs {
    fn event(&self) -> Result<Event, Failure> {
        let mut event = Event::new(&self.action);
        event.id = self
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        if let Some(id) = &self.actor {
            event.actor = Some(Actor {
                id: id.clone(),
                kind: Some(match self.actor_kind {
                    KindArg::User => ActorKind::User,
                    KindArg::Service => ActorKind::Service,
                    KindArg::System => ActorKind::System,
                }),
                ip: self.ip.clone().unwrap_or_default(),
                ..Actor::default()
            });
        }
        if let Some(resource) = &self.resource {
            let (kind, id) = resource.split_once(':').ok_or_else(|| {
                Failure::usage(format!("--resource {resource:?}: expected KIND:ID"))
            })?;
            event.resource = Some(Resource {
                kind: kind.into(),
                id: id.into(),
                name: String::new(),
            });
        }
        event.outcome = self.outcome;
        event.reason = self.reason.clone().unwrap_or_default();
        event.message = self.message.clone().unwrap_or_default();
        event.tenant = self.tenant.clone().unwrap_or_default();
        event.source = self.source.clone().unwrap_or_default();
        if let Some(time) = &self.time {
            event.time = Some(parse_time(time).map_err(|e| Failure::usage(format!("--time {e}")))?);
        }
        for entry in &self.detail {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| Failure::usage(format!("--detail {entry:?}: expected KEY=VALUE")))?;
            let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
            event = event.detail(key, value);
        }
        Ok(event)
    }
}

/// Runs `stele append`.
pub async fn run(args: AppendArgs, client: Client) -> Result<(), Failure> {
    let event = args.event()?;
    let receipts = client
        .append(&args.log, std::slice::from_ref(&event))
        .await?;
    let receipt = receipts
        .first()
        .ok_or_else(|| Failure::from(stele_client::Error::Protocol("no receipt".into())))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        json_line(
            &mut out,
            &ReceiptJson {
                id: &event.id,
                receipt,
            },
        )
    } else {
        writeln!(
            out,
            "seq {}{}\nid {}\nleaf {}\nchain {}",
            receipt.seq,
            if receipt.duplicate {
                " (duplicate: already stored)"
            } else {
                ""
            },
            event.id,
            hex::encode(receipt.leaf_hash),
            hex::encode(receipt.chain_hash)
        )
    }
    .map_err(|e| Failure::usage(format!("stdout: {e}")))
}

/// A receipt with the event id it answers.
#[derive(serde::Serialize)]
struct ReceiptJson<'a> {
    id: &'a str,
    #[serde(flatten)]
    receipt: &'a Receipt,
}
