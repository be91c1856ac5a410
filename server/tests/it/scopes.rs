//! Minted viewer tokens and tenant scopes: every read route, over HTTP and
//! gRPC, by every kind of token, on its own tenant and another's.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stele_proto::v1;
use stele_server::auth::Role;

use crate::common::http::{SseReader, call, field_of_records};
use crate::common::{TestServer, create_log, eventually, token};

const ADMIN: &str = "admin-secret-0001";
const READER: &str = "reader-secret-001";
const INGEST: &str = "ingest-secret-001";

/// Mints a token over HTTP as the admin; returns (id, secret).
async fn mint(server: &TestServer, body: Value) -> (String, String) {
    let (status, minted) = call(server, Method::POST, "/v1/tokens", Some(ADMIN), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    (
        minted["token"]["id"].as_str().unwrap().to_string(),
        minted["secret"].as_str().unwrap().to_string(),
    )
}

/// A server with configured tokens, log `audit` holding events of two
/// tenants (acme: seqs 0, 2, 4; globex: 1, 3, 5), searchable, and log
/// `billing` holding one.
async fn two_tenants() -> TestServer {
    let server = TestServer::with(|c| {
        c.tokens = vec![
            token("admin", ADMIN, &[Role::Admin, Role::Read], &["*"]),
            token("reader", READER, &[Role::Read], &["audit", "billing"]),
            token("ingest", INGEST, &[Role::Append], &["audit", "billing"]),
        ];
    })
    .await;
    create_log(&server, Some(ADMIN), "audit").await;
    create_log(&server, Some(ADMIN), "billing").await;
    let events: Vec<Value> = (0..6)
        .map(|i| {
            let tenant = if i % 2 == 0 { "acme" } else { "globex" };
            json!({"tenant": tenant, "action": "doc.read", "actor": {"id": format!("{tenant}-user")},
                   "message": format!("{tenant} secret plan {i}")})
        })
        .collect();
    let (status, _) = call(
        &server,
        Method::POST,
        "/v1/logs/audit/events",
        Some(INGEST),
        Some(json!(events)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &server,
        Method::POST,
        "/v1/logs/billing/events",
        Some(INGEST),
        Some(json!({"tenant": "acme", "action": "invoice.pay"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    eventually("searchable", Duration::from_secs(10), || async {
        let (_, page) = call(
            &server,
            Method::GET,
            "/v1/logs/audit/events",
            Some(READER),
            None,
        )
        .await;
        (page["records"].as_array().map(Vec::len) == Some(6)).then_some(())
    })
    .await;
    server
}

/// The tenants of a search page's records.
fn tenants_of(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tenant"].as_str().unwrap().to_string())
        .collect()
}

/// What one token may do, route by route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sees {
    /// Every tenant of `audit` (and `billing`).
    All,
    /// Only acme's events of `audit`; nothing of `billing`.
    Acme,
    /// Nothing at all: unauthenticated.
    Nothing,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_by_every_token_on_its_own_tenant_and_another() {
    let server = two_tenants().await;
    let (_, acme) = mint(
        &server,
        json!({"name": "acme console", "logs": ["audit"], "tenants": ["acme"], "ttl": "1h"}),
    )
    .await;
    let (_, all_audit) = mint(&server, json!({"name": "auditor", "logs": ["audit"]})).await;
    let (_, expired) = mint(
        &server,
        json!({"name": "gone", "logs": ["audit"], "tenants": ["acme"], "ttl": "1ms"}),
    )
    .await;
    let (revoked_id, revoked) = mint(
        &server,
        json!({"name": "revoked", "logs": ["audit"], "tenants": ["acme"]}),
    )
    .await;
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/v1/tokens/{revoked_id}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(20)).await;

    let kinds: [(&str, Option<&str>, Sees); 7] = [
        ("configured reader", Some(READER), Sees::All),
        (
            "minted, all tenants of audit",
            Some(all_audit.as_str()),
            Sees::All,
        ),
        ("minted, acme only", Some(acme.as_str()), Sees::Acme),
        ("minted, expired", Some(expired.as_str()), Sees::Nothing),
        ("minted, revoked", Some(revoked.as_str()), Sees::Nothing),
        ("no token", None, Sees::Nothing),
        ("unknown token", Some("stele_vt_00"), Sees::Nothing),
    ];
    let mut checked = 0;
    for (kind, secret, sees) in kinds {
        let unauthorized = |status: StatusCode| {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{kind}");
        };
        // Search: own tenant only, and another tenant's filter finds nothing.
        let (status, page) =
            call(&server, Method::GET, "/v1/logs/audit/events", secret, None).await;
        match sees {
            Sees::Nothing => unauthorized(status),
            Sees::All => assert_eq!(tenants_of(&page).len(), 6, "{kind}"),
            Sees::Acme => assert_eq!(tenants_of(&page), ["acme"; 3], "{kind}"),
        }
        let (status, page) = call(
            &server,
            Method::GET,
            "/v1/logs/audit/events?q=tenant:globex%20OR%20globex",
            secret,
            None,
        )
        .await;
        match sees {
            Sees::Nothing => unauthorized(status),
            Sees::All => assert_eq!(tenants_of(&page), ["globex"; 3], "{kind}"),
            Sees::Acme => assert!(tenants_of(&page).is_empty(), "{kind}: {page}"),
        }
        // Aggregations.
        let (status, agg) = call(
            &server,
            Method::GET,
            "/v1/logs/audit/aggregate?count_by=tenant",
            secret,
            None,
        )
        .await;
        match sees {
            Sees::Nothing => unauthorized(status),
            Sees::All => assert_eq!(agg["terms"]["total"], 6, "{kind}"),
            Sees::Acme => {
                assert_eq!(agg["terms"]["total"], 3, "{kind}");
                assert_eq!(agg["terms"]["top"], json!([{"value": "acme", "count": 3}]));
            }
        }
        // The session: what the console shows the token.
        let (status, session) = call(&server, Method::GET, "/v1/session", secret, None).await;
        match sees {
            Sees::Nothing => unauthorized(status),
            Sees::All => assert_eq!(session["tenants"], Value::Null, "{kind}: {session}"),
            Sees::Acme => {
                assert_eq!(session["tenants"], json!(["acme"]), "{kind}");
                assert_eq!(session["logs"], json!(["audit"]), "{kind}");
                assert_eq!(session["roles"], json!(["read"]), "{kind}");
            }
        }
        // Export: the same records as search, streamed.
        let mut request = crate::common::http::client().get(format!(
            "{}/v1/logs/audit/export?format=jsonl",
            server.endpoint
        ));
        if let Some(secret) = secret {
            request = request.bearer_auth(secret);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let exported: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|r| r["tenant"].as_str().unwrap_or_default().to_string())
            .collect();
        match sees {
            Sees::Nothing => unauthorized(status),
            Sees::All => assert_eq!(exported.len(), 6, "{kind}"),
            Sees::Acme => assert_eq!(exported, ["acme"; 3], "{kind}: {text}"),
        }
        // One record: its own tenant's, another's, and one that does not exist.
        let (own, _) = call(
            &server,
            Method::GET,
            "/v1/logs/audit/events/0",
            secret,
            None,
        )
        .await;
        let (other, other_body) = call(
            &server,
            Method::GET,
            "/v1/logs/audit/events/1",
            secret,
            None,
        )
        .await;
        let (missing, missing_body) = call(
            &server,
            Method::GET,
            "/v1/logs/audit/events/99",
            secret,
            None,
        )
        .await;
        match sees {
            Sees::Nothing => [own, other, missing].into_iter().for_each(unauthorized),
            Sees::All => {
                assert_eq!(
                    (own, other, missing),
                    (StatusCode::OK, StatusCode::OK, StatusCode::NOT_FOUND)
                );
            }
            Sees::Acme => {
                assert_eq!(own, StatusCode::OK, "{kind}");
                assert_eq!(other, StatusCode::NOT_FOUND, "{kind}");
                assert_eq!(missing, StatusCode::NOT_FOUND, "{kind}");
                // The same answer as a seq that does not exist: nothing leaks.
                let shape = |v: &Value| {
                    v["error"]["message"]
                        .as_str()
                        .unwrap()
                        .replace(['1', '9'], "")
                };
                assert_eq!(shape(&other_body), shape(&missing_body));
                assert!(!other_body.to_string().contains("globex"));
            }
        }
        // Checkpoint and verify: global commitments, no events.
        let (checkpoint, _) = call(
            &server,
            Method::GET,
            "/v1/logs/audit/checkpoint",
            secret,
            None,
        )
        .await;
        let (verify, _) = call(&server, Method::GET, "/v1/logs/audit/verify", secret, None).await;
        match sees {
            Sees::Nothing => [checkpoint, verify].into_iter().for_each(unauthorized),
            _ => assert_eq!(
                (checkpoint, verify),
                (StatusCode::OK, StatusCode::OK),
                "{kind}"
            ),
        }
        // Another log, appends and admin calls.
        let (billing, _) = call(
            &server,
            Method::GET,
            "/v1/logs/billing/events",
            secret,
            None,
        )
        .await;
        let (append, _) = call(
            &server,
            Method::POST,
            "/v1/logs/audit/events",
            secret,
            Some(json!({"tenant": "acme", "action": "x"})),
        )
        .await;
        let (tokens, _) = call(&server, Method::GET, "/v1/tokens", secret, None).await;
        match sees {
            Sees::Nothing => [billing, append, tokens].into_iter().for_each(unauthorized),
            Sees::All if kind == "configured reader" => {
                assert_eq!(billing, StatusCode::OK);
                assert_eq!(
                    (append, tokens),
                    (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN)
                );
            }
            _ => assert_eq!(
                (billing, append, tokens),
                (
                    StatusCode::FORBIDDEN,
                    StatusCode::FORBIDDEN,
                    StatusCode::FORBIDDEN
                ),
                "{kind}"
            ),
        }
        // The live tail.
        if sees == Sees::Nothing {
            let (status, _) = call(
                &server,
                Method::GET,
                "/v1/logs/audit/tail?from_seq=0",
                secret,
                None,
            )
            .await;
            unauthorized(status);
        } else {
            let mut tail =
                SseReader::open_with(&server, "/v1/logs/audit/tail?from_seq=0", None, secret).await;
            let want = if sees == Sees::Acme { 3 } else { 6 };
            let mut got = Vec::new();
            for _ in 0..want {
                got.push(
                    tail.record().await.data["tenant"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            if sees == Sees::Acme {
                assert_eq!(got, ["acme"; 3]);
            }
            let beat = tail.next().await;
            assert_eq!(
                (beat.event.as_str(), &beat.data["resume_seq"]),
                ("heartbeat", &json!(6))
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 7);

    // gRPC narrows the same way.
    let mut grpc = server.client(Some(&acme)).await;
    let page = grpc
        .query(v1::QueryRequest {
            log: "audit".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.records.len(), 3);
    assert!(
        page.records
            .iter()
            .all(|r| r.event.as_ref().unwrap().tenant == "acme")
    );
    let hidden = grpc
        .get_record(v1::GetRecordRequest {
            log: "audit".into(),
            seq: 1,
            include_body: false,
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), tonic::Code::NotFound);

    // Minting and revoking are in _system, never the secret; so is the
    // attempt on another tenant's record.
    let (_, system) = call(
        &server,
        Method::GET,
        "/v1/logs/_system/events?limit=1000",
        Some(ADMIN),
        None,
    )
    .await;
    let text = system.to_string();
    let actions = field_of_records(&system, "action");
    assert!(
        actions.iter().any(|a| a == "admin.mint_token"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "admin.revoke_token"),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "auth.denied"), "{actions:?}");
    for secret in [&acme, &all_audit, &revoked] {
        assert!(!text.contains(&secret[9..]), "a secret is in _system");
    }
    assert!(text.contains("not of the token's tenants"), "{text}");
}

#[tokio::test]
async fn minting_is_checked_and_limited_to_the_logs_the_admin_administers() {
    let server = TestServer::with(|c| {
        c.tokens = vec![
            token("admin", ADMIN, &[Role::Admin], &["*"]),
            token(
                "audit-admin",
                "audit-admin-0001",
                &[Role::Admin],
                &["audit"],
            ),
        ];
    })
    .await;
    for (body, field) in [
        (json!({"name": "x", "logs": []}), "logs"),
        (json!({"name": "", "logs": ["audit"]}), "name"),
        (
            json!({"name": "x", "logs": ["audit"], "ttl": "forever"}),
            "ttl",
        ),
        (
            json!({"name": "x", "logs": ["audit"], "ttl": "400d"}),
            "ttl",
        ),
        (
            json!({"name": "x", "logs": ["audit"], "colour": 1}),
            "unknown field",
        ),
    ] {
        let (status, error) =
            call(&server, Method::POST, "/v1/tokens", Some(ADMIN), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    let (status, _) = call(
        &server,
        Method::POST,
        "/v1/tokens",
        Some("audit-admin-0001"),
        Some(json!({"name": "x", "logs": ["audit", "billing"]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (id, _) = mint(
        &server,
        json!({"name": "billing viewer", "logs": ["billing"]}),
    )
    .await;
    let (status, list) = call(
        &server,
        Method::GET,
        "/v1/tokens",
        Some("audit-admin-0001"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["tokens"], json!([]));
    let (status, list) = call(&server, Method::GET, "/v1/tokens", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["tokens"][0]["id"], id.as_str());
    assert!(list.to_string().find("secret").is_none());
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/v1/tokens/{id}"),
        Some("audit-admin-0001"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/v1/tokens/vt_nope",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // gRPC mints too.
    let minted = server
        .admin(Some(ADMIN))
        .await
        .mint_token(v1::MintTokenRequest {
            name: "grpc".into(),
            logs: vec!["audit".into()],
            tenants: vec!["acme".into()],
            ttl_ms: 60_000,
        })
        .await
        .unwrap()
        .into_inner();
    let info = minted.token.unwrap();
    assert_eq!(info.tenants, ["acme"]);
    assert!(info.expires_ns - info.created_ns == 60_000_000_000);
    assert!(minted.secret.starts_with("stele_vt_"));
}

#[tokio::test]
async fn a_revoked_token_gets_nothing_even_from_a_server_without_tokens() {
    let server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let (status, minted) = call(
        &server,
        Method::POST,
        "/v1/tokens",
        None,
        Some(json!({"name": "acme", "logs": ["audit"], "tenants": ["acme"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = minted["secret"].as_str().unwrap();
    let id = minted["token"]["id"].as_str().unwrap();
    let (status, _) = call(
        &server,
        Method::GET,
        "/v1/logs/audit/events",
        Some(secret),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &server,
        Method::GET,
        "/v1/logs/billing/events",
        Some(secret),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "its limits hold on an open server"
    );
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/v1/tokens/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &server,
        Method::GET,
        "/v1/logs/audit/events",
        Some(secret),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not anonymous");
    let (status, _) = call(&server, Method::GET, "/v1/logs/audit/events", None, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "without a token, anonymous as before"
    );
}
