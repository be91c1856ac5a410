//! Talking to the server over HTTP: a client, the error shape, JSON
//! answers and server-sent events.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::TestServer;

/// A client builder (reqwest on the workspace's one TLS provider).
pub fn builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A plain HTTP/1.1 client.
pub fn client() -> reqwest::Client {
    builder().build().unwrap()
}

/// `POST {endpoint}/v1/logs/{log}/events` with a JSON body.
pub async fn post_json(server: &TestServer, log: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/logs/{log}/events", server.endpoint))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The `error` object of an error answer, checking the shape.
pub async fn error_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    (
        status,
        error["code"].as_str().unwrap().to_string(),
        error["message"].as_str().unwrap().to_string(),
    )
}

/// The seqs of an append's receipts.
pub async fn seqs_of(response: reqwest::Response) -> Vec<u64> {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["leaf_hash"].as_str().unwrap().len(), 64);
            r["seq"].as_u64().unwrap()
        })
        .collect()
}

/// `GET {endpoint}{path}` as JSON, asserting 200.
pub async fn get_json(server: &TestServer, path: &str) -> Value {
    let response = client()
        .get(format!("{}{path}", server.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// A server-sent event: its type, id and data.
#[derive(Debug)]
pub struct Sse {
    pub event: String,
    pub id: String,
    pub data: Value,
}

/// Reads server-sent events from a response.
pub struct SseReader {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    /// Opens `GET {path}` (with `Last-Event-ID` when given).
    pub async fn open(server: &TestServer, path: &str, last_id: Option<&str>) -> SseReader {
        SseReader::open_with(server, path, last_id, None).await
    }

    /// As [`SseReader::open`], with a bearer token.
    pub async fn open_with(
        server: &TestServer,
        path: &str,
        last_id: Option<&str>,
        token: Option<&str>,
    ) -> SseReader {
        let mut request = client().get(format!("{}{path}", server.endpoint));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event, within 10 s.
    pub async fn next(&mut self) -> Sse {
        use futures::StreamExt;
        let read = async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut sse = Sse {
                        event: String::new(),
                        id: String::new(),
                        data: Value::Null,
                    };
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event: ") {
                            sse.event = v.to_string();
                        } else if let Some(v) = line.strip_prefix("id: ") {
                            sse.id = v.to_string();
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            sse.data = serde_json::from_str(v).unwrap();
                        }
                    }
                    return sse;
                }
                let chunk = self.body.next().await.unwrap().unwrap();
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("an event within 10 s")
    }

    /// The next record event, skipping heartbeats.
    pub async fn record(&mut self) -> Sse {
        loop {
            let sse = self.next().await;
            if sse.event == "record" {
                return sse;
            }
            assert_eq!(sse.event, "heartbeat", "{sse:?}");
        }
    }
}

/// One HTTP call; the status and the JSON body (`Null` when none).
pub async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    secret: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, format!("{}{path}", server.endpoint));
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() || !text.starts_with(['{', '[']) {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    (status, value)
}

/// The string `field` of every record of a search page.
pub fn field_of_records(page: &Value, field: &str) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect()
}
