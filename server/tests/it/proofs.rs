//! Merkle proofs served over gRPC and HTTP, checked as an auditor checks
//! them: against a C2SP checkpoint signed by the server's key, with
//! `stele_chain` only.

use reqwest::StatusCode;
use serde_json::{Value, json};
use stele_chain::merkle::{verify_consistency, verify_inclusion};
use stele_chain::note::{TreeHead, open};
use stele_proto::v1;

use crate::common::http::{client, error_of, get_json, post_json};
use crate::common::{TestServer, create_log};

fn hash(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn proofs_check_against_the_signed_checkpoint() {
    let server = TestServer::with(|c| c.origin = "stele.test".into()).await;
    create_log(&server, None, "audit").await;
    for batch in 0..3 {
        let events: Vec<Value> = (0..200)
            .map(|i| {
                json!({"action": "doc.read", "tenant": if i % 2 == 0 { "acme" } else { "globex" },
                            "message": format!("read {batch}-{i}")})
            })
            .collect();
        post_json(&server, "audit", &json!(events)).await;
    }
    let public = server
        .client(None)
        .await
        .get_public_key(v1::GetPublicKeyRequest {})
        .await
        .unwrap()
        .into_inner()
        .public_key;
    let public = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();

    // HTTP: the record's leaf, its path, and the signed tree head.
    let proof = get_json(
        &server,
        "/v1/logs/audit/proofs/inclusion?seq=417&tree_size=513",
    )
    .await;
    let record = get_json(&server, "/v1/logs/audit/events/417").await;
    assert_eq!(proof["leaf_hash"], record["receipt"]["leaf_hash"]);
    let path: Vec<[u8; 32]> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    assert_eq!(path.len(), 10, "about log2(513) hashes");
    let text = open(proof["checkpoint"].as_str().unwrap(), "stele.test", &public).unwrap();
    let head = TreeHead::parse(text).unwrap();
    assert_eq!((head.origin.as_str(), head.size), ("stele.test/audit", 513));
    verify_inclusion(417, 513, &hash(&proof["leaf_hash"]), &path, &head.root).unwrap();
    assert_eq!(hash(&proof["root"]), head.root);

    // The current size, and a consistency proof from 100 to it.
    let now = get_json(&server, "/v1/logs/audit/proofs/inclusion?seq=3").await;
    assert_eq!(now["tree_size"], 600);
    let consistency = get_json(&server, "/v1/logs/audit/proofs/consistency?old_size=100").await;
    let text = open(
        consistency["checkpoint"].as_str().unwrap(),
        "stele.test",
        &public,
    )
    .unwrap();
    let new_head = TreeHead::parse(text).unwrap();
    assert_eq!(new_head.size, 600);
    let path: Vec<[u8; 32]> = consistency["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    verify_consistency(
        100,
        600,
        &hash(&consistency["old_root"]),
        &new_head.root,
        &path,
    )
    .unwrap();
    // The older root is the one a checkpoint of 100 records signed.
    let old = get_json(
        &server,
        "/v1/logs/audit/proofs/inclusion?seq=0&tree_size=100",
    )
    .await;
    assert_eq!(old["root"], consistency["old_root"]);

    // The standard checkpoint as text.
    let note = client()
        .get(format!(
            "{}/v1/logs/audit/checkpoint?format=note",
            server.endpoint
        ))
        .send()
        .await
        .unwrap();
    assert!(
        note.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let note = note.text().await.unwrap();
    let head = TreeHead::parse(open(&note, "stele.test", &public).unwrap()).unwrap();
    assert_eq!((head.size, head.root), (600, new_head.root));

    // gRPC answers the same.
    let grpc = server
        .client(None)
        .await
        .get_inclusion_proof(v1::GetInclusionProofRequest {
            log: "audit".into(),
            seq: 417,
            tree_size: 513,
        })
        .await
        .unwrap()
        .into_inner();
    let path: Vec<[u8; 32]> = grpc
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into().unwrap())
        .collect();
    verify_inclusion(
        417,
        513,
        &grpc.leaf_hash.try_into().unwrap(),
        &path,
        &grpc.root.try_into().unwrap(),
    )
    .unwrap();
    let grpc = server
        .client(None)
        .await
        .get_consistency_proof(v1::GetConsistencyProofRequest {
            log: "audit".into(),
            old_size: 100,
            new_size: 600,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc.new_root, new_head.root.to_vec());

    // Bad sizes name the field; a viewer of acme cannot prove globex's record.
    for (path, says) in [
        (
            "/v1/logs/audit/proofs/inclusion?seq=600",
            "no record at seq 600",
        ),
        (
            "/v1/logs/audit/proofs/inclusion?seq=5&tree_size=601",
            "past",
        ),
        (
            "/v1/logs/audit/proofs/consistency?old_size=7&new_size=5",
            "prefix",
        ),
        ("/v1/logs/audit/checkpoint?format=xml", "format"),
    ] {
        let response = client()
            .get(format!("{}{path}", server.endpoint))
            .send()
            .await
            .unwrap();
        let (status, _, message) = error_of(response).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{path}: {status}"
        );
        assert!(message.contains(says), "{path}: {message}");
    }
    let minted = client()
        .post(format!("{}/v1/tokens", server.endpoint))
        .json(&json!({"name": "acme", "logs": ["audit"], "tenants": ["acme"]}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let secret = minted["secret"].as_str().unwrap();
    let own = client()
        .get(format!(
            "{}/v1/logs/audit/proofs/inclusion?seq=2",
            server.endpoint
        ))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let other = client()
        .get(format!(
            "{}/v1/logs/audit/proofs/inclusion?seq=3",
            server.endpoint
        ))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}
