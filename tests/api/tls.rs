//! Live mode over real TLS: a local https server whose certificate comes from a test CA made here
//! (rcgen), in front of this server's Airtel emulator. Live accounts take only https base URLs; Cowry
//! trusts the CA only when told to (`COWRY_EXTRA_ROOT_CERTS`), and refuses a server it cannot verify
//! before sending anything.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

use crate::common::{assert_error, read, spawn_with, TestApp};

/// A test CA (its PEM) and a `localhost` certificate it issued, with that certificate's key.
fn test_ca() -> (String, rcgen::Certificate, rcgen::KeyPair) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Cowry test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf, leaf_key)
}

/// An https server on loopback that hands each decrypted connection to `upstream` (plain http).
/// Returns its port and how many TLS handshakes completed.
async fn tls_front(
    leaf: &rcgen::Certificate,
    key: &rcgen::KeyPair,
    upstream: String,
) -> (u16, Arc<AtomicUsize>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, upstream, counted) =
                (acceptor.clone(), upstream.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let mut plain = TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, handshakes)
}

/// A live merchant (made by the operator) with a live Airtel Uganda account at `base_url`.
async fn live_merchant_with_airtel(app: &TestApp, base_url: &str) -> (String, StatusCode, Value) {
    let key = app.live_merchant("Acme Live").await;
    let (status, added) = read(
        app.client
            .post(app.url("/providers"))
            .header("x-api-key", &key)
            .json(&json!({"slug": "airtel", "kind": "airtel_money", "mode": "live",
                          "baseUrl": base_url,
                          "credentials": {"clientId": "live-app-0001", "clientSecret": "live-secret-0001",
                                          "country": "UG"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    (key, status, added)
}

async fn collect(app: &TestApp, key: &str) -> (StatusCode, Value) {
    read(
        app.client
            .post(app.url("/collections/collect"))
            .header("x-api-key", key)
            .json(&json!({"phone": "+256752123456", "amount": 1000, "provider": "airtel"}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_accounts_speak_only_verified_https() {
    let (ca_pem, leaf, leaf_key) = test_ca();
    let dir = std::env::temp_dir().join(format!("cowry-ca-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();

    let app = spawn_with(&[
        ("COWRY_EXTRA_ROOT_CERTS", ca_file.to_str().unwrap()),
        ("COWRY_EMULATOR_SETTLE_MS", "600000"),
    ])
    .await;
    let upstream = app.base.trim_start_matches("http://").to_owned();
    let (port, handshakes) = tls_front(&leaf, &leaf_key, upstream).await;

    // Plain http is refused for a live account at the door.
    let (_, status, refused) = live_merchant_with_airtel(
        &app,
        &format!("http://localhost:{port}/_emulator/airtel_money"),
    )
    .await;
    assert_eq!(
        assert_error(&refused, status, "validation_failed"),
        ["baseUrl"],
        "{refused}"
    );

    // https with a certificate Cowry can verify: the payment goes out over TLS.
    let https = format!("https://localhost:{port}/_emulator/airtel_money");
    let (key, status, added) = live_merchant_with_airtel(&app, &https).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let (status, sent) = collect(&app, &key).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["payload"]["status"], "PENDING", "{sent}");
    assert!(handshakes.load(Ordering::SeqCst) >= 1);

    // A server that does not trust the test CA refuses the same certificate: the handshake fails,
    // nothing is sent, and the merchant hears that the provider could not be reached.
    let strict = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "600000")]).await;
    let (key, status, added) = live_merchant_with_airtel(&strict, &https).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let before = handshakes.load(Ordering::SeqCst);
    let (status, refused) = collect(&strict, &key).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{refused}");
    assert_error(&refused, status, "provider_error");
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        before,
        "no TLS session with an unverified server"
    );
    assert_eq!(
        strict
            .count("select count(*) from mobile_money_collects")
            .await,
        0,
        "a refused connection created nothing"
    );
    let _ = std::fs::remove_dir_all(dir);
}
