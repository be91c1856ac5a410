//! The auth matrix: every caller (no token, a wrong or malformed one, and
//! tokens with different roles and logs) against every RPC on two logs, with
//! the exact status code each gets; the `_system` trail of failed
//! authentications and denials; header forms and log patterns; and the
//! configuration check that refuses an open server off loopback.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{TestServer, events_until_caught_up, eventually, token};
use stele_proto::v1::admin_client::AdminClient;
use stele_proto::v1::stele_client::SteleClient;
use stele_proto::v1::{self, subscribe_response, verify_response};
use stele_server::auth::Role;
use stele_server::config::{Config, TokenConfig};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// How long the asynchronous `_system` writes may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// Sends this exact `authorization` value (none when `None`).
#[derive(Clone)]
struct Authorization(Option<MetadataValue<Ascii>>);

impl Interceptor for Authorization {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Client = SteleClient<InterceptedService<Channel, Authorization>>;
type Admin = AdminClient<InterceptedService<Channel, Authorization>>;

async fn clients(server: &TestServer, header: Option<&str>) -> (Client, Admin) {
    let auth = Authorization(header.map(|h| h.parse().unwrap()));
    (
        SteleClient::with_interceptor(server.channel().await, auth.clone()),
        AdminClient::with_interceptor(server.channel().await, auth),
    )
}

const APPENDER: &str = "appender-secret-0001";
const READER: &str = "reader-secret-000002";
const ADMIN: &str = "admin-secret-0000003";
const OWNER_B: &str = "owner-b-secret-00004";
/// Reads `_system`, to check the trail; also a row of the matrix.
const AUDITOR: &str = "auditor-secret-00005";

fn tokens() -> Vec<TokenConfig> {
    vec![
        token("appender", APPENDER, &[Role::Append], &["a"]),
        token("reader", READER, &[Role::Read], &["a"]),
        token("admin", ADMIN, &[Role::Admin], &["*"]),
        token(
            "owner-b",
            OWNER_B,
            &[Role::Append, Role::Read, Role::Admin],
            &["b"],
        ),
        token("auditor", AUDITOR, &[Role::Read], &["_system"]),
    ]
}

/// A caller of the matrix: a name (the token's, for tokens) and the
/// `authorization` header it sends.
const CALLERS: [(&str, Option<&str>); 8] = [
    ("no token", None),
    ("wrong", Some("Bearer wrong-secret-00000000")),
    ("garbled", Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l")),
    ("appender", Some("Bearer appender-secret-0001")),
    ("reader", Some("Bearer reader-secret-000002")),
    ("admin", Some("Bearer admin-secret-0000003")),
    ("owner-b", Some("Bearer owner-b-secret-00004")),
    ("auditor", Some("Bearer auditor-secret-00005")),
];

/// The RPCs, in the order of the matrix's columns.
const RPCS: [&str; 14] = [
    "Append",
    "AppendStream",
    "Query",
    "Aggregate",
    "Subscribe",
    "GetRecord",
    "GetCheckpoint",
    "GetPublicKey",
    "Verify",
    "CreateLog",
    "ListLogs",
    "GetLog",
    "ListSegments",
    "Seal",
];

/// Expected codes: `ok` OK, `un` UNAUTHENTICATED, `pd` PERMISSION_DENIED,
/// `ae` ALREADY_EXISTS (CreateLog admitted, on a log that exists). Columns
/// as [`RPCS`]: Append, AppendStream, Query, Aggregate, Subscribe, GetRecord,
/// GetCheckpoint, GetPublicKey, Verify, CreateLog, ListLogs, GetLog,
/// ListSegments, Seal.
/// AppendStream's code is the stream's status for a failed authentication
/// and the batch's in-band `error.code` for a denial.
const MATRIX: [(&str, &str, &str); 16] = [
    //                 ap st qu ag su re cp pk ve cr ll gl ls se
    ("no token", "a", "un un un un un un un un un un un un un un"),
    ("no token", "b", "un un un un un un un un un un un un un un"),
    ("wrong", "a", "un un un un un un un un un un un un un un"),
    ("wrong", "b", "un un un un un un un un un un un un un un"),
    ("garbled", "a", "un un un un un un un un un un un un un un"),
    ("garbled", "b", "un un un un un un un un un un un un un un"),
    ("appender", "a", "ok ok pd pd pd pd pd ok pd pd pd pd pd pd"),
    ("appender", "b", "pd pd pd pd pd pd pd ok pd pd pd pd pd pd"),
    ("reader", "a", "pd pd ok ok ok ok ok ok ok pd pd pd pd pd"),
    ("reader", "b", "pd pd pd pd pd pd pd ok pd pd pd pd pd pd"),
    ("admin", "a", "pd pd pd pd pd pd pd ok pd ae ok ok ok ok"),
    ("admin", "b", "pd pd pd pd pd pd pd ok pd ae ok ok ok ok"),
    ("owner-b", "a", "pd pd pd pd pd pd pd ok pd pd ok pd pd pd"),
    ("owner-b", "b", "ok ok ok ok ok ok ok ok ok ae ok ok ok ok"),
    ("auditor", "a", "pd pd pd pd pd pd pd ok pd pd pd pd pd pd"),
    ("auditor", "b", "pd pd pd pd pd pd pd ok pd pd pd pd pd pd"),
];

fn code(cell: &str) -> Code {
    match cell {
        "ok" => Code::Ok,
        "un" => Code::Unauthenticated,
        "pd" => Code::PermissionDenied,
        "ae" => Code::AlreadyExists,
        other => panic!("unknown cell `{other}`"),
    }
}

fn append_request(log: &str) -> v1::AppendRequest {
    v1::AppendRequest {
        log: log.into(),
        events: vec![common::event("auth.matrix", "tester", "a matrix append")],
        batch_id: 1,
    }
}

/// Calls `rpc` about `log`; the resulting code, after checking that a
/// successful call really answered.
async fn call(rpc: &str, log: &str, client: &mut Client, admin: &mut Admin) -> Code {
    let log = log.to_string();
    let result: Result<(), Status> = match rpc {
        "Append" => client.append(append_request(&log)).await.map(|r| {
            assert_eq!(r.into_inner().receipts.len(), 1);
        }),
        "AppendStream" => {
            match client
                .append_stream(futures::stream::iter(vec![append_request(&log)]))
                .await
            {
                Err(status) => Err(status),
                Ok(response) => {
                    let mut stream = response.into_inner();
                    let answer = stream.message().await.map(|a| a.expect("an answer"));
                    match answer {
                        Ok(v1::AppendResponse {
                            error: Some(error), ..
                        }) => return Code::from(error.code),
                        Ok(answer) => {
                            assert_eq!(answer.receipts.len(), 1);
                            Ok(())
                        }
                        Err(status) => Err(status),
                    }
                }
            }
        }
        "Query" => client
            .query(v1::QueryRequest {
                log,
                ..Default::default()
            })
            .await
            .map(drop),
        "Aggregate" => client
            .aggregate(v1::AggregateRequest {
                log,
                selection: None,
                kind: Some(v1::aggregate_request::Kind::Count(v1::CountSpec {})),
            })
            .await
            .map(drop),
        "Subscribe" => match client
            .subscribe(v1::SubscribeRequest {
                log,
                start: Some(v1::subscribe_request::Start::FromSeq(0)),
                selection: None,
                heartbeat_ms: 50,
                include_body: false,
            })
            .await
        {
            Err(status) => Err(status),
            Ok(response) => {
                let mut stream = response.into_inner();
                let start = stream.message().await.unwrap().and_then(|m| m.item);
                assert!(
                    matches!(start, Some(subscribe_response::Item::Heartbeat(ref h)) if h.resume_seq == 0),
                    "{start:?}"
                );
                let first = stream.message().await.unwrap().and_then(|m| m.item);
                assert!(
                    matches!(first, Some(subscribe_response::Item::Record(ref r)) if r.seq == 0),
                    "{first:?}"
                );
                Ok(())
            }
        },
        "GetRecord" => client
            .get_record(v1::GetRecordRequest {
                log,
                seq: 0,
                include_body: false,
            })
            .await
            .map(drop),
        "GetCheckpoint" => client
            .get_checkpoint(v1::GetCheckpointRequest { log })
            .await
            .map(drop),
        "GetPublicKey" => client
            .get_public_key(v1::GetPublicKeyRequest {})
            .await
            .map(|r| assert_eq!(r.into_inner().public_key.len(), 32)),
        "Verify" => match client
            .verify(v1::VerifyRequest {
                log,
                from_seq: 0,
                to_seq: None,
            })
            .await
        {
            Err(status) => Err(status),
            Ok(response) => {
                let mut stream = response.into_inner();
                let mut last = None;
                while let Some(message) = stream.message().await.unwrap() {
                    last = message.item;
                }
                assert!(
                    matches!(last, Some(verify_response::Item::Result(ref r)) if r.ok),
                    "{last:?}"
                );
                Ok(())
            }
        },
        "CreateLog" => admin
            .create_log(v1::CreateLogRequest {
                name: log,
                policy: None,
            })
            .await
            .map(drop),
        "ListLogs" => admin.list_logs(v1::ListLogsRequest {}).await.map(drop),
        "GetLog" => admin
            .get_log(v1::GetLogRequest { name: log })
            .await
            .map(drop),
        "ListSegments" => admin
            .list_segments(v1::ListSegmentsRequest { log })
            .await
            .map(drop),
        "Seal" => admin.seal(v1::SealRequest { log }).await.map(drop),
        other => panic!("unknown RPC {other}"),
    };
    match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// The `auth.*` events of `_system` visible now, read with a subscription
/// from seq 0 until a heartbeat says it is caught up.
async fn auth_events(client: &mut Client) -> Vec<v1::Event> {
    let stream = client
        .subscribe(v1::SubscribeRequest {
            log: "_system".into(),
            start: Some(v1::subscribe_request::Start::FromSeq(0)),
            selection: Some(v1::Selection {
                filters: vec![v1::Filter {
                    field: "action".into(),
                    values: vec!["auth.*".into()],
                }],
                ..Default::default()
            }),
            heartbeat_ms: 50,
            include_body: false,
        })
        .await
        .unwrap()
        .into_inner();
    events_until_caught_up(stream, DEADLINE).await
}

fn method_of(event: &v1::Event) -> String {
    let details: serde_json::Value = serde_json::from_str(&event.details_json).unwrap();
    details["method"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_caller_gets_the_right_code_from_every_rpc() {
    let mut server = TestServer::with(|config| config.tokens = tokens()).await;
    let bearer = |secret: &str| format!("Bearer {secret}");

    // Setup, through the tokens themselves: the admin creates `a`, the owner
    // of `b` creates `b`, and each gets a first record.
    let (_, mut admin) = clients(&server, Some(&bearer(ADMIN))).await;
    admin
        .create_log(v1::CreateLogRequest {
            name: "a".into(),
            policy: None,
        })
        .await
        .unwrap();
    let (mut owner_b, mut owner_b_admin) = clients(&server, Some(&bearer(OWNER_B))).await;
    owner_b_admin
        .create_log(v1::CreateLogRequest {
            name: "b".into(),
            policy: None,
        })
        .await
        .unwrap();
    let (mut appender, _) = clients(&server, Some(&bearer(APPENDER))).await;
    appender.append(append_request("a")).await.unwrap();
    owner_b.append(append_request("b")).await.unwrap();

    // The matrix.
    let mut failures = Vec::new();
    let mut want_unauthenticated: BTreeMap<String, usize> = BTreeMap::new();
    let mut want_denied: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut cells = 0;
    for (caller, log, row) in MATRIX {
        let header = CALLERS
            .iter()
            .find(|(name, _)| *name == caller)
            .unwrap_or_else(|| panic!("unknown caller {caller}"))
            .1;
        let (mut client, mut admin) = clients(&server, header).await;
        let row: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(row.len(), RPCS.len(), "row {caller} {log}");
        for (rpc, cell) in RPCS.iter().zip(row) {
            let want = code(cell);
            let got = call(rpc, log, &mut client, &mut admin).await;
            cells += 1;
            if got != want {
                failures.push(format!(
                    "{caller} {rpc} on {log}: got {got:?}, want {want:?}"
                ));
            }
            match want {
                Code::Unauthenticated => {
                    *want_unauthenticated.entry(rpc.to_string()).or_default() += 1
                }
                Code::PermissionDenied => {
                    *want_denied
                        .entry((caller.to_string(), rpc.to_string()))
                        .or_default() += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(cells, MATRIX.len() * RPCS.len());
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // ListLogs shows each token the logs it may use.
    let names = |logs: v1::ListLogsResponse| -> Vec<String> {
        logs.logs.into_iter().map(|l| l.name).collect()
    };
    let all = admin.list_logs(v1::ListLogsRequest {}).await.unwrap();
    assert_eq!(names(all.into_inner()), ["_system", "a", "b"]);
    let only_b = owner_b_admin
        .list_logs(v1::ListLogsRequest {})
        .await
        .unwrap();
    assert_eq!(names(only_b.into_inner()), ["b"]);

    // Every failure is in `_system`, written asynchronously: each failed
    // authentication as `auth.unauthenticated` with no actor, each denial as
    // `auth.denied` with the token's name as actor, both with the method.
    let (auditor, _) = clients(&server, Some(&bearer(AUDITOR))).await;
    let unauthenticated_total: usize = want_unauthenticated.values().sum();
    let denied_total: usize = want_denied.values().sum();
    let events = eventually("the auth failures in _system", DEADLINE, move || {
        let mut c = auditor.clone();
        async move {
            let events = auth_events(&mut c).await;
            (events.len() >= unauthenticated_total + denied_total).then_some(events)
        }
    })
    .await;
    let mut got_unauthenticated: BTreeMap<String, usize> = BTreeMap::new();
    let mut got_denied: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut reasons = Vec::new();
    for e in &events {
        let actor = e.actor.clone().unwrap_or_default().id;
        assert_eq!(e.outcome, v1::Outcome::Denied as i32, "{e:?}");
        assert_eq!(e.source, "steled");
        assert!(!e.reason.is_empty(), "{e:?}");
        match e.action.as_str() {
            "auth.unauthenticated" => {
                assert_eq!(actor, "", "{e:?}");
                *got_unauthenticated.entry(method_of(e)).or_default() += 1;
                reasons.push(e.reason.clone());
            }
            "auth.denied" => {
                *got_denied.entry((actor, method_of(e))).or_default() += 1;
            }
            other => panic!("unexpected {other}: {e:?}"),
        }
        for secret in [APPENDER, READER, ADMIN, OWNER_B, AUDITOR, "wrong-secret"] {
            assert!(!e.details_json.contains(secret) && !e.reason.contains(secret));
        }
    }
    assert_eq!(got_unauthenticated, want_unauthenticated);
    assert_eq!(got_denied, want_denied);
    for why in ["missing", "unknown token", "not `Bearer <token>`"] {
        assert!(
            reasons.iter().any(|r| r.contains(why)),
            "no reason says `{why}`: {reasons:?}"
        );
    }
    drop((admin, owner_b, owner_b_admin, appender));
    server.stop().await;
}

#[tokio::test]
async fn header_forms_and_log_patterns() {
    let mut server = TestServer::with(|config| {
        config.tokens = vec![
            token(
                "apps",
                "apps-secret-00000001",
                &[Role::Append, Role::Read],
                &["app-*"],
            ),
            token("admin", ADMIN, &[Role::Admin], &["*"]),
        ];
    })
    .await;
    let (_, mut admin) = clients(&server, Some(&format!("Bearer {ADMIN}"))).await;
    for name in ["app-web", "app-api", "application", "other"] {
        admin
            .create_log(v1::CreateLogRequest {
                name: name.into(),
                policy: None,
            })
            .await
            .unwrap();
    }
    // `app-*` is a prefix: `application` does not start with `app-`.
    let (mut apps, _) = clients(&server, Some("Bearer apps-secret-00000001")).await;
    for (log, want) in [
        ("app-web", Code::Ok),
        ("app-api", Code::Ok),
        ("application", Code::PermissionDenied),
        ("other", Code::PermissionDenied),
        ("_system", Code::PermissionDenied),
    ] {
        let got = match apps.append(append_request(log)).await {
            Ok(_) => Code::Ok,
            Err(status) => {
                assert!(status.message().contains(log), "{status:?}");
                status.code()
            }
        };
        assert_eq!(got, want, "append to {log}");
    }
    // The scheme is case-insensitive as `bearer`, and whitespace around the
    // secret is ignored; anything else is refused.
    for (header, want) in [
        ("bearer apps-secret-00000001", Code::Ok),
        ("Bearer  apps-secret-00000001 ", Code::Ok),
        ("Bearer apps-secret-0000000", Code::Unauthenticated),
        ("Bearer", Code::Unauthenticated),
        ("apps-secret-00000001", Code::Unauthenticated),
        ("Token apps-secret-00000001", Code::Unauthenticated),
    ] {
        let (mut client, _) = clients(&server, Some(header)).await;
        let got = match client.append(append_request("app-web")).await {
            Ok(_) => Code::Ok,
            Err(status) => {
                assert!(!status.message().contains("apps-secret"), "{status:?}");
                status.code()
            }
        };
        assert_eq!(got, want, "header `{header}`");
    }
    drop((admin, apps));
    server.stop().await;
}

#[test]
fn no_tokens_only_on_loopback() {
    let open = |listen: &str| Config {
        listen: listen.parse().unwrap(),
        ..Config::default()
    };
    for listen in ["127.0.0.1:7070", "127.0.0.1:0", "[::1]:7070"] {
        open(listen).validate().unwrap();
    }
    for listen in ["0.0.0.0:7070", "192.0.2.10:7070", "[::]:7070"] {
        let err = open(listen).validate().unwrap_err().to_string();
        assert!(err.contains("loopback"), "{listen}: {err}");
        assert!(err.contains("tokens"), "{listen}: {err}");
        // With a token, the same address is fine.
        Config {
            tokens: vec![token("t", "0123456789abcdef", &[Role::Read], &["*"])],
            ..open(listen)
        }
        .validate()
        .unwrap();
    }
    // Token mistakes are named too.
    let with = |tokens: Vec<TokenConfig>| Config {
        tokens,
        ..open("0.0.0.0:7070")
    };
    let short = with(vec![token("t", "short", &[Role::Read], &["*"])]);
    assert!(
        short
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tokens[0].secret")
    );
    let twice = with(vec![
        token("t", "0123456789abcdef", &[Role::Read], &["*"]),
        token("t", "fedcba9876543210", &[Role::Read], &["*"]),
    ]);
    assert!(
        twice
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tokens[1].name")
    );
    let no_roles = with(vec![token("t", "0123456789abcdef", &[], &["*"])]);
    assert!(
        no_roles
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tokens[0].roles")
    );
    let no_logs = with(vec![token("t", "0123456789abcdef", &[Role::Read], &[])]);
    assert!(
        no_logs
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tokens[0].logs")
    );
}
