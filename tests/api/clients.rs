//! The emulators driven by clients written from what the providers' published client libraries send and
//! expect (raw HTTP here, never Cowry's adapters): a merchant who builds against test mode with those
//! libraries must not be able to tell the emulator from the provider.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{spawn_with, TestApp};

const PAYSTACK_KEY: &str = "sk_test_client_library_0001";

/// Sends one raw HTTP/1.1 request and returns the status and the JSON body.
async fn raw_request(app: &TestApp, head: &str, body: &[u8]) -> (u16, Value) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let (headers, rest) = text.split_once("\r\n\r\n").unwrap();
    let json = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // One chunk is enough for these small answers: "<len>\r\n<json>\r\n0\r\n\r\n".
        rest.split("\r\n").nth(1).unwrap_or_default().to_owned()
    } else {
        rest.to_owned()
    };
    (status, serde_json::from_str(&json).unwrap_or(Value::Null))
}

/// `POST /transaction/initialize` as Paystack's Node SDK sends it: a JSON body with no `Content-Type`,
/// chunked, and only `authorization` and `user-agent` headers.
async fn node_sdk_initialize(app: &TestApp, key: &str, body: &[u8]) -> (u16, Value) {
    let head = format!(
        "POST /_emulator/paystack/transaction/initialize HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {key}\r\n\
         user-agent: node-paystack\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n",
        app.base.trim_start_matches("http://"),
        body.len()
    );
    let mut chunked = body.to_vec();
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    raw_request(app, &head, &chunked).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paystacks_node_sdk_and_form_posts_are_understood_and_errors_are_paystack_json() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "600000")]).await;
    let body = br#"{"email":"amina@example.com","amount":50000,"currency":"NGN"}"#;
    let (status, created) = node_sdk_initialize(&app, PAYSTACK_KEY, body).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], true);
    assert!(created["data"]["authorization_url"].is_string());

    // The key is checked before the body is read: a bad key with a broken body is still "Invalid key".
    let (status, refused) = node_sdk_initialize(&app, "sk_test_x", b"{not json").await;
    assert_eq!(
        (status, refused),
        (401, json!({"status": false, "message": "Invalid key"}))
    );
    // A good key with a broken body: Paystack's JSON error, never text.
    let (status, broken) = node_sdk_initialize(&app, PAYSTACK_KEY, b"{not json").await;
    assert_eq!(status, 400);
    assert_eq!(broken["status"], false);

    // The official OpenAPI document also takes initialize as a form.
    let client = reqwest::Client::new();
    let form = client
        .post(app.url("/_emulator/paystack/transaction/initialize"))
        .bearer_auth(PAYSTACK_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=kofi%40example.com&amount=25000&currency=GHS&reference=form-ref-1")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let form: Value = form.json().await.unwrap();
    assert_eq!(form["data"]["reference"], "form-ref-1");

    // Unknown routes and methods answer in Paystack's shape too.
    for response in [
        client
            .get(app.url("/_emulator/paystack/no/such/route"))
            .bearer_auth(PAYSTACK_KEY)
            .send()
            .await
            .unwrap(),
        client
            .delete(app.url("/_emulator/paystack/transaction/initialize"))
            .bearer_auth(PAYSTACK_KEY)
            .send()
            .await
            .unwrap(),
    ] {
        assert!(response.status().is_client_error());
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], false, "{body}");
    }
}

/// Transaction ids never repeat across a restart (a new process), so webhooks after a restart are
/// never mistaken for duplicates of earlier ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paystack_transaction_ids_do_not_repeat_across_restarts() {
    let mut ids = Vec::new();
    for run in 0..2 {
        let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "600000")]).await;
        let reference = format!("restart-{run}");
        let body = json!({"email": "amina@example.com", "amount": 50000, "reference": reference});
        let (status, _) =
            node_sdk_initialize(&app, PAYSTACK_KEY, body.to_string().as_bytes()).await;
        assert_eq!(status, 200);
        let verified: Value = reqwest::Client::new()
            .get(app.url(&format!(
                "/_emulator/paystack/transaction/verify/{reference}"
            )))
            .bearer_auth(PAYSTACK_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(verified["data"]["id"].as_i64().unwrap());
        // The next "process" starts at least a millisecond later.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(ids[1] > ids[0], "{ids:?}");
}

/// An MTN client is configured with the host and builds `/collection/…` itself; a FAILED payment's
/// reason is the live API's string code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_momo_client_configured_with_the_host_finds_the_collection_api() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "20")]).await;
    let host = app.url("/_emulator/mtn_momo");
    let client = reqwest::Client::new();
    let user = "0b2f8e9c-3c59-4a37-9a59-2f0c8d1e6a11";
    let token: Value = client
        .post(format!("{host}/collection/token/"))
        .basic_auth(user, Some("client-library-key"))
        .header("Ocp-Apim-Subscription-Key", "subscription")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let reference = uuid::Uuid::new_v4().to_string();
    let pushed = client
        .post(format!("{host}/collection/v1_0/requesttopay"))
        .bearer_auth(&token)
        .header("Ocp-Apim-Subscription-Key", "subscription")
        .header("X-Target-Environment", "sandbox")
        .header("X-Reference-Id", &reference)
        .json(
            &json!({"amount": "1000", "currency": "UGX", "externalId": "lib-1",
                      "payer": {"partyIdType": "MSISDN", "partyId": "256772120001"},
                      "payerMessage": "m", "payeeNote": "n"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), StatusCode::ACCEPTED);
    let failed = crate::common::eventually("the payment to fail", || async {
        let status: Value = client
            .get(format!("{host}/collection/v1_0/requesttopay/{reference}"))
            .bearer_auth(&token)
            .header("Ocp-Apim-Subscription-Key", "subscription")
            .header("X-Target-Environment", "sandbox")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (status["status"] == "FAILED").then_some(status)
    })
    .await;
    assert_eq!(failed["reason"], "NOT_ENOUGH_FUNDS", "{failed}");
    // The old layout is gone: MTN has no /v1_0 at the host's root.
    let old = client
        .post(format!("{host}/token/"))
        .basic_auth(user, Some("client-library-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::NOT_FOUND);
}

/// Airtel's maintained client signs collections: it fetches Airtel's RSA key, encrypts the exact body
/// with a fresh AES-256 key (CBC, PKCS#7) into `x-signature`, and seals `key:iv` with RSA PKCS#1 v1.5
/// into `x-key`. The emulator checks it; an altered body or a missing signature is a 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airtels_signed_collections_are_verified() {
    use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
    use rsa::pkcs8::DecodePublicKey;

    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "20")]).await;
    let base = app.url("/_emulator/airtel_money");
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{base}/auth/oauth2/token"))
        .json(
            &json!({"client_id": "lib-client", "client_secret": "lib-secret-01",
                      "grant_type": "client_credentials"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let authed = |request: reqwest::RequestBuilder| {
        request
            .bearer_auth(&token)
            .header("X-Country", "UG")
            .header("X-Currency", "UGX")
    };
    let key: Value = authed(client.get(format!("{base}/v1/rsa/encryption-keys")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let der = B64.decode(key["data"]["key"].as_str().unwrap()).unwrap();
    let public = rsa::RsaPublicKey::from_public_key_der(&der).unwrap();
    let body = |id: &str| {
        serde_json::to_vec(&json!({"reference": "lib order", "subscriber": {"country": "UG", "currency": "UGX", "msisdn": "752123456"},
                                   "transaction": {"amount": 1000, "country": "UG", "currency": "UGX", "id": id}}))
        .unwrap()
    };
    let sign = |bytes: &[u8]| {
        let (aes_key, iv) = ([7u8; 32], [9u8; 16]);
        let signature = cbc::Encryptor::<aes::Aes256>::new(&aes_key.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(bytes);
        let pair = format!("{}:{}", B64.encode(aes_key), B64.encode(iv));
        let sealed = public
            .encrypt(&mut rand_core::OsRng, rsa::Pkcs1v15Encrypt, pair.as_bytes())
            .unwrap();
        (B64.encode(signature), B64.encode(sealed))
    };
    let post_v2 = |bytes: Vec<u8>, headers: Option<(String, String)>| {
        let mut request = authed(client.post(format!("{base}/merchant/v2/payments/")))
            .header("content-type", "application/json")
            .body(bytes);
        if let Some((signature, key)) = headers {
            request = request
                .header("x-signature", signature)
                .header("x-key", key);
        }
        async move { request.send().await.unwrap() }
    };
    let signed = body("lib-tx-1");
    let accepted = post_v2(signed.clone(), Some(sign(&signed))).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted["status"]["success"], true, "{accepted}");

    // The signature covers the exact bytes: another body under the same headers is refused.
    let altered = body("lib-tx-2");
    let refused = post_v2(altered.clone(), Some(sign(&signed))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["status"]["success"], false, "{refused}");
    let unsigned = post_v2(altered.clone(), None).await;
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    // The unsigned v1 keeps working for an app that does not require signing.
    let v1 = authed(client.post(format!("{base}/merchant/v1/payments/")))
        .header("content-type", "application/json")
        .body(altered)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), StatusCode::OK);
    // An app set to require signing (client ids `signed-…` here) gets a 403 for an unsigned request,
    // whatever headers it adds.
    let token: Value = client
        .post(format!("{base}/auth/oauth2/token"))
        .json(
            &json!({"client_id": "signed-lib", "client_secret": "lib-secret-01",
                      "grant_type": "client_credentials"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unsigned = client
        .post(format!("{base}/merchant/v1/payments/"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("X-Country", "UG")
        .header("X-Currency", "UGX")
        .header("x-signature", "anything")
        .header("content-type", "application/json")
        .body(body("lib-tx-3"))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
}

/// Cowry's own Airtel adapter signs when the account says its app requires it (the emulated app,
/// `signed-…`, refuses unsigned requests, so the collect succeeding proves the signature).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cowry_signs_airtel_collections_for_an_app_that_requires_it() {
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "20"),
        ("COWRY_RECONCILE_SCHEDULE", "100ms"),
        ("COWRY_WORKER_IDLE_MS", "20"),
    ])
    .await;
    let (status, body) = app
        .post_json(
            "/providers",
            &json!({"slug": "airtel-signed", "kind": "airtel_money", "mode": "test",
                    "baseUrl": app.url("/_emulator/airtel_money"),
                    "credentials": {"clientId": "signed-app", "clientSecret": "signed-secret-01",
                                    "country": "UG", "signPayments": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, sent) = app
        .post_json(
            "/collections/collect",
            &json!({"phone": "+256752123456", "amount": 1500, "provider": "airtel-signed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let paid = crate::collect::settled(&app, sent["payload"]["id"].as_str().unwrap()).await;
    assert_eq!(paid["status"], "SUCCESS", "{paid}");
    let (status, refused) = app
        .post_json(
            "/providers",
            &json!({"slug": "airtel-odd", "kind": "airtel_money", "mode": "test",
                    "credentials": {"clientId": "a", "clientSecret": "b", "country": "UG",
                                    "signPayments": "yes"}}),
        )
        .await;
    let fields = crate::common::assert_error(&refused, status, "validation_failed");
    assert!(
        fields.contains(&"credentials.signPayments".to_owned()),
        "{refused}"
    );
}
