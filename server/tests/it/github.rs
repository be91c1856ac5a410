//! GitHub webhook deliveries over real HTTP: each event type GitHub sends
//! for a repository's pipelines and settings, signed as GitHub signs them,
//! mapped and stored; replays, forgeries and pings.

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::http::{client, error_of, get_json};
use crate::common::{TestServer, create_log};

const SECRET: &str = "webhook-secret-0123456789";

fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers `payload` as GitHub would, signed with `secret`.
async fn deliver(
    server: &TestServer,
    log: &str,
    event: &str,
    delivery: &str,
    payload: &Value,
    sign: impl Fn(&[u8]) -> String,
) -> reqwest::Response {
    let body = serde_json::to_vec(payload).unwrap();
    client()
        .post(format!("{}/v1/logs/{log}/github", server.endpoint))
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/8e03811")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-github-hook-id", "497121713")
        .header("x-hub-signature-256", sign(&body))
        .body(body)
        .send()
        .await
        .unwrap()
}

fn repository() -> Value {
    json!({
        "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "api",
        "full_name": "acme/api", "private": true, "default_branch": "main",
        "owner": {"login": "acme", "id": 9919, "type": "Organization"},
        "html_url": "https://github.com/acme/api", "visibility": "private",
        "topics": ["payments", "audit"], "updated_at": "2026-11-30T08:00:00Z"
    })
}

fn sender(login: &str, kind: &str) -> Value {
    json!({"login": login, "id": 583231, "type": kind, "site_admin": false,
           "html_url": format!("https://github.com/{login}")})
}

/// Each event type, its payload, and what must come out: action, resource
/// kind and id, outcome.
fn deliveries() -> Vec<(
    &'static str,
    Value,
    &'static str,
    &'static str,
    String,
    &'static str,
)> {
    let org = json!({"login": "acme", "id": 9919});
    let base = |extra: Value| {
        let mut payload = json!({
            "repository": repository(), "organization": org.clone(),
            "sender": sender("alice", "User"),
            "installation": {"id": 2311213, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw=="}
        });
        payload
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        payload
    };
    vec![
        (
            "push",
            base(json!({
                "ref": "refs/heads/main", "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                "after": "0000000000000000000000000000000000000000", "forced": true,
                "commits": [{"id": "a1b2c3", "message": "Drop the audit table\n\nOops", "author": {"name": "Alice", "email": "alice@acme.test"},
                             "added": [], "removed": ["db/audit.sql"], "modified": []}],
                "head_commit": {"id": "a1b2c3", "timestamp": "2026-12-01T09:59:00+01:00"},
                "pusher": {"name": "alice", "email": "alice@acme.test"}
            })),
            "github.push",
            "repository",
            "acme/api".into(),
            "success",
        ),
        (
            "workflow_run",
            base(json!({
                "action": "completed",
                "workflow_run": {"id": 30433642, "name": "Deploy", "head_branch": "main", "head_sha": "a1b2c3",
                                 "run_number": 562, "event": "push", "status": "completed", "conclusion": "failure",
                                 "workflow_id": 159038, "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:05:00Z",
                                 "actor": sender("alice", "User"), "triggering_actor": sender("alice", "User")},
                "workflow": {"id": 159038, "name": "Deploy", "path": ".github/workflows/deploy.yml"}
            })),
            "github.workflow_run.completed",
            "workflow_run",
            "30433642".into(),
            "failure",
        ),
        (
            "workflow_job",
            base(json!({
                "action": "completed",
                "workflow_job": {"id": 2832853555_u64, "run_id": 30433642, "name": "migrate", "status": "completed",
                                 "conclusion": "success", "started_at": "2026-12-01T09:01:00Z", "completed_at": "2026-12-01T09:03:00Z",
                                 "labels": ["ubuntu-latest"], "runner_name": "GitHub Actions 2",
                                 "steps": [{"name": "Run migrations", "status": "completed", "conclusion": "success", "number": 1}]}
            })),
            "github.workflow_job.completed",
            "workflow_job",
            "2832853555".into(),
            "success",
        ),
        (
            "deployment",
            base(json!({
                "action": "created",
                "deployment": {"id": 145988746, "sha": "a1b2c3", "ref": "main", "task": "deploy", "environment": "production",
                               "payload": {"canary": true}, "creator": sender("alice", "User"), "created_at": "2026-12-01T09:06:00Z"}
            })),
            "github.deployment.created",
            "deployment",
            "145988746".into(),
            "success",
        ),
        (
            "deployment_status",
            base(json!({
                "action": "created",
                "deployment_status": {"id": 2, "state": "error", "description": "rollout stuck", "environment": "production",
                                      "created_at": "2026-12-01T09:09:00Z", "creator": sender("deploy-bot[bot]", "Bot")},
                "deployment": {"id": 145988746, "environment": "production", "created_at": "2026-12-01T09:06:00Z"}
            })),
            "github.deployment_status.created",
            "deployment",
            "145988746".into(),
            "failure",
        ),
        (
            "release",
            base(json!({
                "action": "published",
                "release": {"id": 51180129, "tag_name": "v2.4.0", "name": "2.4.0", "draft": false, "prerelease": false,
                            "created_at": "2026-12-01T10:00:00Z", "published_at": "2026-12-01T10:01:00Z",
                            "author": sender("alice", "User"), "assets": []}
            })),
            "github.release.published",
            "release",
            "51180129".into(),
            "success",
        ),
        (
            "member",
            base(json!({
                "action": "added",
                "member": {"login": "mallory", "id": 666, "type": "User"},
                "changes": {"permission": {"to": "admin"}}
            })),
            "github.member.added",
            "repository",
            "acme/api".into(),
            "success",
        ),
        (
            "organization",
            json!({
                "action": "member_removed",
                "membership": {"state": "active", "role": "admin", "user": {"login": "bob", "id": 2}},
                "organization": org.clone(), "sender": sender("alice", "User")
            }),
            "github.organization.member_removed",
            "organization",
            "acme".into(),
            "success",
        ),
        (
            "repository",
            base(json!({"action": "privatized"})),
            "github.repository.privatized",
            "repository",
            "acme/api".into(),
            "success",
        ),
        (
            "branch_protection_rule",
            base(json!({
                "action": "deleted",
                "rule": {"id": 21796960, "repository_id": 1296269, "name": "main", "created_at": "2026-01-01T00:00:00Z",
                         "updated_at": "2026-12-01T11:00:00Z", "required_approving_review_count": 2,
                         "enforce_admins": true, "linear_history_requirement_enforcement_level": "off"}
            })),
            "github.branch_protection_rule.deleted",
            "branch_protection_rule",
            "21796960".into(),
            "success",
        ),
        (
            "pull_request",
            base(json!({
                "action": "closed", "number": 42,
                "pull_request": {"id": 279147437, "number": 42, "title": "Bypass review for hotfix", "state": "closed",
                                 "merged": true, "merged_by": sender("alice", "User"), "updated_at": "2026-12-01T12:00:00Z",
                                 "head": {"ref": "hotfix", "sha": "deadbeef"}, "base": {"ref": "main"}}
            })),
            "github.pull_request.closed",
            "pull_request",
            "acme/api#42".into(),
            "success",
        ),
    ]
}

async fn github_server() -> TestServer {
    let server = TestServer::with(|c| {
        c.github_webhooks = vec![stele_server::config::GithubWebhookConfig {
            log: "ci".into(),
            secret: SECRET.into(),
        }];
    })
    .await;
    create_log(&server, None, "ci").await;
    create_log(&server, None, "other").await;
    server
}

#[tokio::test]
async fn every_event_type_is_verified_mapped_and_stored() {
    let server = github_server().await;
    let cases = deliveries();
    for (i, (event, payload, ..)) in cases.iter().enumerate() {
        let response = deliver(
            &server,
            "ci",
            event,
            &format!("delivery-{i}"),
            payload,
            signature,
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{event}: {}",
            response.text().await.unwrap()
        );
    }
    for (i, (event, payload, action, kind, id, outcome)) in cases.iter().enumerate() {
        let got = get_json(&server, &format!("/v1/logs/ci/events/{i}")).await;
        let record = &got["record"];
        assert_eq!(record["action"], *action, "{event}");
        assert_eq!(record["resource"]["kind"], *kind, "{event}");
        assert_eq!(record["resource"]["id"], id.as_str(), "{event}");
        assert_eq!(record["outcome"], *outcome, "{event}");
        assert_eq!(record["id"], format!("github-delivery-{i}"), "{event}");
        assert_eq!(record["tenant"], "acme", "{event}");
        assert_eq!(record["source"], "github", "{event}");
        assert_eq!(record["actor"]["id"], "alice", "{event}");
        assert_eq!(
            &record["details"], payload,
            "{event}: the payload is kept whole"
        );
        assert!(!record["message"].as_str().unwrap().is_empty(), "{event}");
    }
    let push = get_json(&server, "/v1/logs/ci/events/0").await;
    assert_eq!(push["record"]["time"], "2026-12-01T08:59:00Z");
    assert_eq!(
        push["record"]["message"],
        "alice force-pushed 1 commit to acme/api refs/heads/main"
    );
    // The run and its job are tied by the run id.
    let run = get_json(&server, "/v1/logs/ci/events/1").await;
    let job = get_json(&server, "/v1/logs/ci/events/2").await;
    assert_eq!(run["record"]["correlation_id"], "30433642");
    assert_eq!(job["record"]["correlation_id"], "30433642");
}

#[tokio::test]
async fn redeliveries_forgeries_pings_and_unhooked_logs() {
    let server = github_server().await;
    let (event, payload, ..) = deliveries().swap_remove(1);
    let first: Value = deliver(&server, "ci", event, "d-1", &payload, signature)
        .await
        .json()
        .await
        .unwrap();
    let again: Value = deliver(&server, "ci", event, "d-1", &payload, signature)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["receipts"][0]["seq"], first["receipts"][0]["seq"]);
    assert_eq!(again["receipts"][0]["duplicate"], true);

    let forged = deliver(&server, "ci", event, "d-2", &payload, |_| {
        format!("sha256={}", "ab".repeat(32))
    })
    .await;
    let (status, code, message) = error_of(forged).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
    );
    assert!(message.contains("does not match"), "{message}");
    let unsigned = deliver(&server, "ci", event, "d-3", &payload, |_| String::new()).await;
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let elsewhere = deliver(&server, "other", event, "d-4", &payload, signature).await;
    let (status, _, message) = error_of(elsewhere).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message.contains("github_webhooks"), "{message}");

    let ping = deliver(
        &server,
        "ci",
        "ping",
        "d-5",
        &json!({"zen": "Design for failure.", "hook_id": 1}),
        signature,
    )
    .await;
    assert_eq!(ping.status(), StatusCode::OK);
    let not_json = client()
        .post(format!("{}/v1/logs/ci/github", server.endpoint))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("payload=%7B%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Only the first delivery was stored; the forgeries are in _system.
    crate::common::eventually("searchable", std::time::Duration::from_secs(10), || async {
        let page = get_json(&server, "/v1/logs/ci/events").await;
        (page["records"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    crate::common::eventually("recorded", std::time::Duration::from_secs(10), || async {
        let page = get_json(
            &server,
            "/v1/logs/_system/events?q=action:auth.*%20GitHubWebhook",
        )
        .await;
        (page["records"].as_array().unwrap().len() == 3).then_some(())
    })
    .await;
}
