//! TLS: with a certificate configured the server speaks only TLS; a client
//! that trusts the certificate gets through, a plaintext client does not.

use crate::common;

use std::time::Duration;

use stele_proto::v1;
use stele_proto::v1::stele_client::SteleClient;
use stele_server::config::TlsConfig;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

#[tokio::test]
async fn a_configured_certificate_makes_the_server_speak_tls() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let cert = keys.path().join("server.crt");
    let key = keys.path().join("server.key");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let mut server = common::TestServer::with(|config| {
        config.tls = Some(TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
        });
    })
    .await;
    let port = server.running.as_ref().unwrap().addr().port();

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(certified.cert.pem()))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let key_answer = SteleClient::new(channel)
        .get_public_key(v1::GetPublicKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(key_answer.public_key.len(), 32);

    // The same port in plaintext gets no answer.
    let plain = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    let refused = SteleClient::new(plain)
        .get_public_key(v1::GetPublicKeyRequest {})
        .await;
    assert!(refused.is_err(), "plaintext is refused: {refused:?}");
    server.stop().await;
}

#[tokio::test]
async fn unreadable_tls_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.crt");
    let config = stele_server::config::Config {
        tls: Some(TlsConfig {
            cert: missing.clone(),
            key: missing.clone(),
        }),
        ..stele_server::config::Config::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("tls.cert") && err.contains("nope.crt"),
        "{err}"
    );
}
