//! The web console's files and headers, and the export it offers: what a
//! browser gets from `steled` itself (the browser tests drive the pages).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::http::{client, error_of, post_json, seqs_of};
use crate::common::{TestServer, create_log, eventually};

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", server.endpoint))
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_console_is_served_under_a_strict_content_security_policy() {
    let server = TestServer::open().await;
    let page = get(&server, "/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(header(&page, "content-type").starts_with("text/html"));
    let csp = header(&page, "content-security-policy").to_string();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    let html = page.text().await.unwrap();
    // No inline script or style: every script and sheet is a file of ours.
    assert!(html.contains(r#"<script type="module" src="/console/console.js"></script>"#));
    assert!(!html.contains("<style") && !html.contains(" style="));
    let handlers = html
        .split_whitespace()
        .any(|word| word.starts_with("on") && word.contains('='));
    assert!(!handlers, "no inline event handlers");
    for file in [
        "console.js",
        "api.js",
        "dom.js",
        "rows.js",
        "search.js",
        "record.js",
        "proof.js",
        "tail.js",
        "operate.js",
    ] {
        let script = get(&server, &format!("/console/{file}")).await;
        assert_eq!(script.status(), StatusCode::OK, "{file}");
        assert!(
            header(&script, "content-type").contains("javascript"),
            "{file}: {}",
            header(&script, "content-type")
        );
        let text = script.text().await.unwrap();
        // Event content is only ever set as text.
        assert!(
            !text.contains("innerHTML") && !text.contains("insertAdjacentHTML"),
            "{file}"
        );
    }
    let sheet = get(&server, "/console/console.css").await;
    assert!(header(&sheet, "content-type").starts_with("text/css"));
    let (status, code, message) = error_of(get(&server, "/console/missing.js").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    assert!(message.contains("missing.js"), "{message}");
    let config: Value = get(&server, "/console/config.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(config, json!({"frame_ancestors": []}));
}

#[tokio::test]
async fn an_embedding_origin_may_frame_it_and_the_console_can_be_turned_off() {
    let server = TestServer::with(|c| {
        c.console.frame_ancestors = vec!["https://app.example.com".into()];
    })
    .await;
    let page = get(&server, "/").await;
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.ends_with("frame-ancestors https://app.example.com"),
        "{csp}"
    );
    assert_eq!(header(&page, "x-frame-options"), "");
    let config: Value = get(&server, "/console/config.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        config,
        json!({"frame_ancestors": ["https://app.example.com"]})
    );

    let off = TestServer::with(|c| c.console.enabled = false).await;
    let (status, _, _) = error_of(get(&off, "/").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(get(&off, "/v1/logs").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn exports_stream_every_match_as_csv_without_formulas_or_as_json_lines() {
    let server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let mut events = vec![json!({
        "action": "user.rename", "tenant": "acme",
        "actor": {"id": "=HYPERLINK(\"http://evil.example\",\"click\")", "ip": "AWS Internal"},
        "resource": {"kind": "user", "id": "+1234"},
        "outcome": "success",
        "message": "<script>alert(1)</script>, \"quoted\"\nsecond line",
        "details": {"note": "@SUM(A1)", "nested": {"n": 1}},
    })];
    events.extend((0..2500).map(|i| json!({"action": "doc.read", "message": format!("read {i}")})));
    assert_eq!(
        seqs_of(post_json(&server, "audit", &json!(events)).await)
            .await
            .len(),
        2501
    );
    eventually("searchable", std::time::Duration::from_secs(10), || async {
        let lines = get(&server, "/v1/logs/audit/export")
            .await
            .text()
            .await
            .unwrap();
        (lines.lines().count() == 2501).then_some(())
    })
    .await;

    let csv = get(
        &server,
        "/v1/logs/audit/export?format=csv&q=action:user.rename",
    )
    .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(header(&csv, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header(&csv, "content-disposition"),
        "attachment; filename=\"audit.csv\""
    );
    let text = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let columns: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        columns[..5],
        ["seq", "time", "ingest_time", "tenant", "actor.id"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let cell = |name: &str| rows[0][columns.iter().position(|c| c == name).unwrap()].to_string();
    assert_eq!(
        cell("actor.id"),
        "'=HYPERLINK(\"http://evil.example\",\"click\")"
    );
    assert_eq!(cell("resource.id"), "'+1234");
    assert_eq!(cell("actor.ip"), "AWS Internal");
    assert_eq!(
        cell("message"),
        "<script>alert(1)</script>, \"quoted\"\nsecond line"
    );
    let details: Value = serde_json::from_str(&cell("details")).unwrap();
    assert_eq!(details["note"], "@SUM(A1)", "the JSON text starts with {{");
    assert_eq!(cell("outcome"), "success");
    assert_eq!(cell("redacted"), "false");

    // JSON Lines: every match, in order, through several pages.
    let all = get(&server, "/v1/logs/audit/export?order=oldest").await;
    assert_eq!(header(&all, "content-type"), "application/x-ndjson");
    let seqs: Vec<u64> = all
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (0..2501).collect::<Vec<_>>());
    let newest = get(&server, "/v1/logs/audit/export?limit=3&q=action:doc.read").await;
    let seqs: Vec<u64> = newest
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");

    for (path, names) in [
        ("/v1/logs/audit/export?format=xlsx", "format"),
        ("/v1/logs/audit/export?q=nofield:x", "nofield"),
        ("/v1/logs/audit/export?since=yesterday", "since"),
        ("/v1/logs/audit/export?colour=red", "colour"),
    ] {
        let (status, _, message) = error_of(get(&server, path).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {message}");
        assert!(message.contains(names), "{path}: {message}");
    }
    let (status, _, _) = error_of(get(&server, "/v1/logs/none/export").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
