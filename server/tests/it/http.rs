//! The HTTP/JSON API over real HTTP on the gRPC port: each body form,
//! errors in one shape, limits, tokens.

use std::io::Write;

use reqwest::StatusCode;
use serde_json::{Value, json};
use stele_proto::v1;
use stele_server::auth::Role;

use crate::common::http::{
    SseReader, builder, client, error_of, field_of_records, get_json, post_json, seqs_of,
};
use crate::common::{TestServer, create_log, token};

/// The event stored at `seq`, read back over gRPC.
async fn stored(server: &TestServer, log: &str, seq: u64) -> v1::Event {
    server
        .client(None)
        .await
        .get_record(v1::GetRecordRequest {
            log: log.into(),
            seq,
            include_body: false,
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap()
        .event
        .unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn every_body_form_is_appended_and_stored_as_sent() {
    let server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let one = json!({
        "action": "workflow.delete",
        "actor": {"id": "alice", "ip": "AWS Internal"},
        "resource": {"kind": "workflow", "id": "42"},
        "outcome": "success",
        "time": "2026-12-01T10:00:00Z",
        "details": {"request": {"headers": {"x": [1, 2, {"y": null}]}}}
    });
    assert_eq!(seqs_of(post_json(&server, "audit", &one).await).await, [0]);
    let event = stored(&server, "audit", 0).await;
    assert_eq!(event.action, "workflow.delete");
    assert_eq!(event.actor.unwrap().ip, "AWS Internal");
    let details: Value = serde_json::from_str(&event.details_json).unwrap();
    assert_eq!(details, one["details"]);

    let array = json!([{"action": "a.one"}, {"action": "a.two"}]);
    assert_eq!(
        seqs_of(post_json(&server, "audit", &array).await).await,
        [1, 2]
    );

    let lines = "{\"action\":\"l.one\"}\n\n{\"action\":\"l.two\"}\r\n{\"action\":\"l.three\"}";
    let response = client()
        .post(format!("{}/v1/logs/audit/events", server.endpoint))
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(seqs_of(response).await, [3, 4, 5]);

    let response = client()
        .post(format!("{}/v1/logs/audit/events", server.endpoint))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(gzip(lines.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(seqs_of(response).await, [6, 7, 8]);
    assert_eq!(stored(&server, "audit", 8).await.action, "l.three");

    // HTTP/2 on the same port, as gRPC uses it.
    let h2 = builder().http2_prior_knowledge().build().unwrap();
    let response = h2
        .post(format!("{}/v1/logs/audit/events", server.endpoint))
        .json(&json!({"action": "h2.post"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(seqs_of(response).await, [9]);
}

#[tokio::test]
async fn a_retried_event_id_answers_its_original_receipt() {
    let server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let event = json!({"id": "delivery-1", "action": "a.b"});
    assert_eq!(
        seqs_of(post_json(&server, "audit", &event).await).await,
        [0]
    );
    let again: Value = post_json(&server, "audit", &event)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["receipts"][0]["seq"], 0);
    assert_eq!(again["receipts"][0]["duplicate"], true);
}

#[tokio::test]
async fn a_bad_event_names_its_index_and_field_and_nothing_of_the_batch_is_stored() {
    let server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let cases = [
        (
            json!([{"action": "ok"}, {"action": "x", "actor": {"idd": "bob"}}]),
            "events[1].actor.idd: unknown field `idd`",
        ),
        (
            json!([{"action": "ok"}, {"action": "ok"}, {"action": ""}]),
            "events[2].action",
        ),
        (
            json!({"action": "x", "time": "yesterday"}),
            "events[0].time: `yesterday` is not an RFC 3339 time",
        ),
        (json!([]), "events: the body holds no event"),
    ];
    for (body, expected) in cases {
        let (status, code, message) = error_of(post_json(&server, "audit", &body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code, "INVALID_ARGUMENT");
        assert!(message.starts_with(expected), "{message} for {body}");
    }
    let response = client()
        .post(format!("{}/v1/logs/audit/events", server.endpoint))
        .header("content-type", "application/json")
        .body("{\"action\": \"a\",")
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("EOF"), "{message}");
    // Nothing of the refused batches was stored: the next event is seq 0.
    assert_eq!(
        seqs_of(post_json(&server, "audit", &json!({"action": "a.b"})).await).await,
        [0]
    );
    let (status, code, message) =
        error_of(post_json(&server, "missing", &json!({"action": "a"})).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    assert!(message.contains("missing"), "{message}");
}

#[tokio::test]
async fn wrong_media_types_encodings_and_routes_are_refused_in_the_error_shape() {
    let server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let url = format!("{}/v1/logs/audit/events", server.endpoint);
    let form = client()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=a")
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(form).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(message.contains("application/json"), "{message}");
    let brotli = client()
        .post(&url)
        .header("content-encoding", "br")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(brotli.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let not_gzip = client()
        .post(&url)
        .header("content-encoding", "gzip")
        .body("{\"action\":\"a\"}")
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(not_gzip).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("gzip"), "{message}");
    let (status, code, _) = error_of(
        client()
            .get(format!("{}/nowhere", server.endpoint))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let put = client().put(&url).body("{}").send().await.unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_before_they_are_stored() {
    let server = TestServer::with(|c| c.limits.max_request_bytes = 4096).await;
    create_log(&server, None, "audit").await;
    let url = format!("{}/v1/logs/audit/events", server.endpoint);
    let big = json!({"action": "a", "message": "x".repeat(8192)}).to_string();
    // Declared by Content-Length.
    let (status, code, message) = error_of(
        client()
            .post(&url)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code, "RESOURCE_EXHAUSTED");
    assert!(message.contains("limits.max_request_bytes"), "{message}");
    // Chunked, with no length declared.
    let chunks = futures::stream::iter(
        big.clone()
            .into_bytes()
            .chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = client()
        .post(&url)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Small once compressed, too large once decoded.
    let packed = gzip(big.as_bytes());
    assert!(packed.len() < 4096);
    let response = client()
        .post(&url)
        .header("content-encoding", "gzip")
        .body(packed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        seqs_of(post_json(&server, "audit", &json!({"action": "a"})).await).await,
        [0]
    );
}

#[tokio::test]
async fn http_callers_need_the_same_tokens_as_grpc_ones() {
    let server = TestServer::with(|c| {
        c.tokens = vec![
            token("admin", "admin-secret-0001", &[Role::Admin], &["*"]),
            token("ingest", "ingest-secret-001", &[Role::Append], &["audit"]),
            token("reader", "reader-secret-001", &[Role::Read], &["audit"]),
        ];
    })
    .await;
    create_log(&server, Some("admin-secret-0001"), "audit").await;
    let url = format!("{}/v1/logs/audit/events", server.endpoint);
    let post = |secret: Option<&str>| {
        let mut request = client().post(&url).json(&json!({"action": "a.b"}));
        if let Some(secret) = secret {
            request = request.bearer_auth(secret);
        }
        request.send()
    };
    let anonymous = post(None).await.unwrap();
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let (status, code, _) = error_of(anonymous).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
    );
    let (status, _, _) = error_of(post(Some("wrong")).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, code, message) = error_of(post(Some("reader-secret-001")).await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "PERMISSION_DENIED")
    );
    assert!(message.contains("`append`"), "{message}");
    assert_eq!(
        seqs_of(post(Some("ingest-secret-001")).await.unwrap()).await,
        [0]
    );
}

/// A log `audit` holding six events of three actors, an hour apart from
/// 2026-12-01T00:00Z, searchable; returns their receipts.
async fn six_events(server: &TestServer) -> Vec<Value> {
    create_log(server, None, "audit").await;
    let events: Vec<Value> = (0..6)
        .map(|i| {
            let actor = ["alice", "bob", "carol"][i % 3];
            json!({
                "action": if i % 2 == 0 { "repo.delete" } else { "git.push" },
                "actor": {"id": actor},
                "outcome": if i == 5 { "denied" } else { "success" },
                "time": format!("2026-12-01T0{i}:00:00Z"),
                "message": format!("event number {i}"),
                "details": {"ticket": format!("T-{i}")}
            })
        })
        .collect();
    let body: Value = post_json(server, "audit", &json!(events))
        .await
        .json()
        .await
        .unwrap();
    crate::common::eventually("searchable", std::time::Duration::from_secs(10), || async {
        let page = get_json(server, "/v1/logs/audit/events?limit=10").await;
        (page["records"].as_array().unwrap().len() == 6).then_some(())
    })
    .await;
    body["receipts"].as_array().unwrap().clone()
}

#[tokio::test]
async fn search_pages_filters_and_times() {
    let server = TestServer::open().await;
    six_events(&server).await;
    let seqs = |page: &Value| -> Vec<u64> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect()
    };
    let page = get_json(&server, "/v1/logs/audit/events?q=actor:alice").await;
    assert_eq!(seqs(&page), [3, 0]);
    let record = &page["records"][0];
    assert_eq!(record["actor"]["id"], "alice");
    assert_eq!(record["time"], "2026-12-01T03:00:00Z");
    assert!(record["ingest_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(record["details"]["ticket"], "T-3");
    let page = get_json(
        &server,
        "/v1/logs/audit/events?q=action:repo.*%20-outcome:denied%20T-4&order=oldest",
    )
    .await;
    assert_eq!(seqs(&page), [4]);
    let page = get_json(&server, "/v1/logs/audit/events?q=number%20-T-2").await;
    assert_eq!(seqs(&page), [5, 4, 3, 1, 0]);
    let page = get_json(
        &server,
        "/v1/logs/audit/events?since=2026-12-01T01:00:00Z&until=2026-12-01T04:00:00Z",
    )
    .await;
    assert_eq!(seqs(&page), [3, 2, 1]);
    // Pages through the cursor, newest first, no repeats.
    let mut all = Vec::new();
    let mut path = "/v1/logs/audit/events?limit=4".to_string();
    loop {
        let page = get_json(&server, &path).await;
        all.extend(seqs(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/logs/audit/events?limit=4&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(all, [5, 4, 3, 2, 1, 0]);
    for (query, names) in [
        ("q=actor:(alice", "q"),
        ("colour=red", "unknown field `colour`"),
        ("since=yesterday", "since: `yesterday`"),
        ("order=sideways", "order: `sideways`"),
        ("limit=-1", "limit"),
    ] {
        let response = client()
            .get(format!("{}/v1/logs/audit/events?{query}", server.endpoint))
            .send()
            .await
            .unwrap();
        let (status, code, message) = error_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {message}");
        assert_eq!(code, "INVALID_ARGUMENT");
        assert!(message.contains(names), "{query}: {message}");
    }
}

#[tokio::test]
async fn aggregations_count_top_values_and_histograms() {
    let server = TestServer::open().await;
    six_events(&server).await;
    let count = get_json(&server, "/v1/logs/audit/aggregate?q=actor:bob").await;
    assert_eq!(count["count"], 2);
    let terms = get_json(&server, "/v1/logs/audit/aggregate?count_by=actor.id&top=2").await;
    assert_eq!(terms["terms"]["total"], 6);
    assert_eq!(terms["terms"]["top"].as_array().unwrap().len(), 2);
    assert_eq!(terms["terms"]["other"], 2);
    let histogram = get_json(
        &server,
        "/v1/logs/audit/aggregate?interval=2h&split=outcome&since=2026-12-01T00:00:00Z&until=2026-12-01T06:00:00Z",
    )
    .await;
    let h = &histogram["histogram"];
    assert_eq!(h["total"], 6);
    let buckets = h["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 3);
    assert_eq!(buckets[2]["start"], "2026-12-01T04:00:00Z");
    assert_eq!(buckets[2]["count"], 2);
    assert_eq!(h["split_values"][0], "success");
    let response = client()
        .get(format!(
            "{}/v1/logs/audit/aggregate?count_by=colour",
            server.endpoint
        ))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.starts_with("count_by: `colour`"), "{message}");
}

#[tokio::test]
async fn a_record_with_its_receipt_a_checkpoint_and_a_streamed_verify() {
    let server = TestServer::open().await;
    let receipts = six_events(&server).await;
    let got = get_json(&server, "/v1/logs/audit/events/2").await;
    assert_eq!(got["record"]["seq"], 2);
    assert_eq!(got["record"]["message"], "event number 2");
    assert_eq!(got["receipt"]["leaf_hash"], receipts[2]["leaf_hash"]);
    assert_eq!(got["receipt"]["chain_hash"], receipts[2]["chain_hash"]);
    for (path, status) in [
        ("/v1/logs/audit/events/6", StatusCode::NOT_FOUND),
        ("/v1/logs/audit/events/two", StatusCode::BAD_REQUEST),
        ("/v1/logs/other/events/0", StatusCode::NOT_FOUND),
    ] {
        let response = client()
            .get(format!("{}{path}", server.endpoint))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response).await.0, status, "{path}");
    }
    let checkpoint = get_json(&server, "/v1/logs/audit/checkpoint").await;
    assert_eq!(checkpoint["size"], 6);
    assert_eq!(checkpoint["head"], receipts[5]["chain_hash"]);
    assert_eq!(checkpoint["signature"].as_str().unwrap().len(), 128);

    let response = client()
        .get(format!("{}/v1/logs/audit/verify", server.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let result = &lines.last().unwrap()["result"];
    assert_eq!(result["ok"], true, "{text}");
    assert_eq!(result["records"], 6);
    assert_eq!(result["head"], receipts[5]["chain_hash"]);
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.get("progress").is_some())
    );
    let response = client()
        .get(format!(
            "{}/v1/logs/audit/verify?from_seq=4&to_seq=2",
            server.endpoint
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_tail_replays_follows_and_resumes_from_last_event_id() {
    let server = TestServer::open().await;
    six_events(&server).await;
    let mut tail = SseReader::open(
        &server,
        "/v1/logs/audit/tail?q=actor:alice&from_seq=0&heartbeat_ms=100",
        None,
    )
    .await;
    let first = tail.next().await;
    assert_eq!(first.event, "heartbeat");
    assert_eq!(first.data["resume_seq"], 0);
    let a = tail.record().await;
    assert_eq!((a.data["seq"].as_u64(), a.id.as_str()), (Some(0), "1"));
    assert_eq!(a.data["actor"]["id"], "alice");
    let b = tail.record().await;
    assert_eq!(b.data["seq"], 3);
    // Live: only alice's new event arrives.
    post_json(
        &server,
        "audit",
        &json!([{"action": "x", "actor": {"id": "bob"}}, {"action": "y", "actor": {"id": "alice"}}]),
    )
    .await;
    let c = tail.record().await;
    assert_eq!(
        (c.data["seq"].as_u64(), c.data["action"].as_str()),
        (Some(7), Some("y"))
    );
    // The connection drops; a new one resumes after the last record seen.
    drop(tail);
    let mut resumed = SseReader::open(
        &server,
        "/v1/logs/audit/tail?q=actor:alice&heartbeat_ms=100",
        Some(&b.id),
    )
    .await;
    assert_eq!(resumed.next().await.data["resume_seq"], 4);
    assert_eq!(resumed.record().await.data["seq"], 7);
    // Without a start, the tail starts at the head.
    let mut now = SseReader::open(&server, "/v1/logs/audit/tail?heartbeat_ms=100", None).await;
    assert_eq!(now.next().await.data["resume_seq"], 8);
}

#[tokio::test]
async fn the_tail_takes_full_text_and_answers_as_search_does() {
    let server = TestServer::open().await;
    six_events(&server).await;
    let mut tail = SseReader::open(
        &server,
        "/v1/logs/audit/tail?q=number%20-T-2&from_seq=0",
        None,
    )
    .await;
    let mut seqs = Vec::new();
    for _ in 0..5 {
        seqs.push(tail.record().await.data["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, [0, 1, 3, 4, 5]);
    post_json(
        &server,
        "audit",
        &json!([{"action": "x", "message": "no match"}, {"action": "y", "message": "number 7"}]),
    )
    .await;
    assert_eq!(tail.record().await.data["seq"], 7);
    for (query, field) in [
        ("q=actor:(alice", "text"),
        ("heartbeat_ms=1", "heartbeat_ms"),
        ("from=yesterday", "unknown field `from`"),
    ] {
        let response = client()
            .get(format!("{}/v1/logs/audit/tail?{query}", server.endpoint))
            .send()
            .await
            .unwrap();
        let (status, _, message) = error_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(message.contains(field), "{query}: {message}");
    }
}

#[tokio::test]
async fn admin_routes_answer_as_the_admin_service_does() {
    let server = TestServer::with(|c| {
        c.tokens = vec![
            token(
                "admin",
                "admin-secret-0001",
                &[Role::Admin, Role::Append, Role::Read],
                &["*"],
            ),
            token("reader", "reader-secret-001", &[Role::Read], &["*"]),
        ];
    })
    .await;
    let call = |method: reqwest::Method, path: &str, secret: &str, body: Option<Value>| {
        let mut request = client()
            .request(method, format!("{}{path}", server.endpoint))
            .bearer_auth(secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    use reqwest::Method;
    let admin = "admin-secret-0001";
    let created: Value = call(
        Method::POST,
        "/v1/logs",
        admin,
        Some(json!({"name": "audit", "policy": {"fsync": "always", "seal_max_records": "1000"}})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(created["name"], "audit");
    assert_eq!(created["policy"]["fsync"], "always");
    assert_eq!(created["policy"]["seal_max_records"], 1000);
    let response = call(
        Method::POST,
        "/v1/logs/audit/events",
        admin,
        Some(json!({"action": "a.b"})),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let logs: Value = call(Method::GET, "/v1/logs", admin, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"audit"), "{logs}");
    let info: Value = call(Method::GET, "/v1/logs/audit", admin, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["next_seq"], 1);
    let sealed: Value = call(Method::POST, "/v1/logs/audit/seal", admin, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sealed["sealed"]["state"], "SEGMENT_STATE_SEALED",
        "{sealed}"
    );
    let segments: Value = call(Method::GET, "/v1/logs/audit/segments", admin, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(segments["segments"][0]["records"], 1, "{segments}");
    let hold: Value = call(
        Method::POST,
        "/v1/logs/audit/holds",
        admin,
        Some(json!({"reason": "litigation 2026-114"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(hold["reason"], "litigation 2026-114");
    let retention: Value = call(Method::GET, "/v1/logs/audit/retention", admin, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        retention["holds"][0]["reason"], "litigation 2026-114",
        "{retention}"
    );
    let lifted = call(
        Method::DELETE,
        "/v1/logs/audit/holds?reason=settled",
        admin,
        None,
    )
    .await
    .unwrap();
    assert_eq!(lifted.status(), StatusCode::OK);
    let archived = call(Method::GET, "/v1/logs/audit/archived", admin, None)
        .await
        .unwrap();
    assert_eq!(archived.status(), StatusCode::OK);

    // The gRPC handler's checks and errors, in the HTTP shape.
    let (status, code, _) = error_of(
        call(
            Method::GET,
            "/v1/logs/audit/segments",
            "reader-secret-001",
            None,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "PERMISSION_DENIED")
    );
    let (status, _, message) = error_of(
        call(
            Method::POST,
            "/v1/logs",
            admin,
            Some(json!({"name": "audit", "colour": 1})),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("colour"), "{message}");
    let (status, code, _) = error_of(
        call(
            Method::POST,
            "/v1/logs",
            admin,
            Some(json!({"name": "audit"})),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "ALREADY_EXISTS")
    );
    let (status, _, _) = error_of(
        call(Method::GET, "/v1/logs/nope", admin, None)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Each call is in _system, as over gRPC.
    let system = get_json_as(
        &server,
        "/v1/logs/_system/events?q=action:admin.*&limit=100",
        admin,
    )
    .await;
    let actions = field_of_records(&system, "action");
    for action in [
        "admin.create_log",
        "admin.seal",
        "admin.set_hold",
        "admin.lift_hold",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

/// `GET {endpoint}{path}` with a token, as JSON, once it answers 200.
async fn get_json_as(server: &TestServer, path: &str, secret: &str) -> Value {
    crate::common::eventually("answered", std::time::Duration::from_secs(10), || async {
        let response = client()
            .get(format!("{}{path}", server.endpoint))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
        let value: Value = response.json().await.unwrap();
        (value["records"].as_array().is_some_and(|r| r.len() >= 4)).then_some(value)
    })
    .await
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes_the_server_answers() {
    let server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let doc = get_json(&server, "/v1/openapi.json").await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{log}", "audit")
            .replace("{seq}", "0")
            .replace("{id}", "vt_none");
        for method in item.as_object().unwrap().keys() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let operation = &item[method];
            assert!(
                operation["summary"].is_string(),
                "{method} {path} has a summary"
            );
            assert!(
                operation["responses"].as_object().unwrap().len() >= 2,
                "{method} {path}"
            );
            let response = client()
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}", server.endpoint),
                )
                .header("content-type", "application/json")
                .body("{}")
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .unwrap();
            let status = response.status();
            // The tail streams: its head is enough.
            if status == StatusCode::OK && path.ends_with("/tail") {
                operations += 1;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && !text.contains("no route for"),
                "{method} {path} is documented but not served: {status} {text}"
            );
            operations += 1;
        }
    }
    assert_eq!(
        operations,
        26,
        "every route is documented: {:?}",
        paths.keys()
    );
    // Answers have the documented shape.
    let receipts = &doc["components"]["schemas"]["Receipts"]["properties"];
    assert!(receipts.get("receipts").is_some(), "{receipts}");
    let page = &doc["components"]["schemas"]["PageJson"]["properties"];
    for key in ["records", "stats"] {
        assert!(page.get(key).is_some(), "{page}");
    }
    let error = &doc["components"]["schemas"]["ErrorDetail"]["properties"];
    for key in ["code", "message", "retry_after_secs"] {
        assert!(error.get(key).is_some(), "{error}");
    }
    let body = seqs_of(post_json(&server, "audit", &json!({"action": "a.b"})).await).await;
    assert_eq!(body, [0]);
}

#[tokio::test]
async fn browsers_of_configured_origins_may_call_the_api() {
    let server =
        TestServer::with(|c| c.http.cors_origins = vec!["https://console.example.com".into()])
            .await;
    create_log(&server, None, "audit").await;
    let url = format!("{}/v1/logs/audit/events", server.endpoint);
    let preflight = |origin: &str| {
        client()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://console.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://console.example.com"
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let get = client()
        .get(&url)
        .header("origin", "https://console.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "https://console.example.com"
    );
    // Without the setting, no CORS headers at all.
    let plain = TestServer::open().await;
    create_log(&plain, None, "audit").await;
    let get = client()
        .get(format!("{}/v1/logs/audit/events", plain.endpoint))
        .header("origin", "https://console.example.com")
        .send()
        .await
        .unwrap();
    assert!(get.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn scrubbing_rules_are_set_and_tried_over_http() {
    let server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let call = |method: reqwest::Method, path: &str, body: Value| {
        client()
            .request(method, format!("{}{path}", server.endpoint))
            .json(&body)
            .send()
    };
    let set = call(
        reqwest::Method::PUT,
        "/v1/logs/audit/scrub",
        json!({"scrub": {"builtin": ["all"], "custom": [{"name": "ticket", "pattern": "TS-[0-9]{6}"}]}}),
    )
    .await
    .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let rules: Value = set.json().await.unwrap();
    assert_eq!(rules["builtin"], json!(["all"]));
    assert_eq!(rules["custom"][0]["name"], "ticket");

    let seqs = seqs_of(
        post_json(
            &server,
            "audit",
            &json!({"action": "ticket.open", "message": "TS-123456", "details": {"password": "hunter2"}}),
        )
        .await,
    )
    .await;
    let event = stored(&server, "audit", seqs[0]).await;
    assert_eq!(event.message, "[redacted:ticket]");
    assert!(
        event
            .details_json
            .contains(r#""password":"[redacted:key_value]""#),
        "{}",
        event.details_json
    );

    let tried: Value = call(
        reqwest::Method::POST,
        "/v1/logs/audit/scrub/test",
        json!({"events": [{"action": "a.b", "message": "key AKIAIOSFODNN7EXAMPLE"}]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        tried["events"][0]["event"]["message"],
        "key [redacted:aws_access_key_id]"
    );
    assert_eq!(tried["events"][0]["fired"], json!({"aws_access_key_id": 1}));

    let bad = call(
        reqwest::Method::PUT,
        "/v1/logs/audit/scrub",
        json!({"scrub": {"builtin": ["everything"]}}),
    )
    .await
    .unwrap();
    let (status, code, message) = error_of(bad).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT")
    );
    assert!(message.contains("policy.scrub.builtin[0]"), "{message}");
}
