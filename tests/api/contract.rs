//! Contract tests against the providers' official specifications (`tests/contract/specs/`, with their
//! sources and licences in `SOURCES.md` there):
//! - each adapter's requests go to Stoplight Prism serving the spec, which refuses anything that breaks
//!   it (wrong type, missing field, missing header);
//! - each emulator's answers are checked against the same spec's response schemas
//!   (`tests/contract/validate_responses.py`, OpenAPI 3.0 semantics).
//!
//! Prism and the validator are installed from npm and PyPI on first use (`.ci/run` does it up front).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A provider's spec, as copied into the repository.
pub fn spec(name: &str) -> PathBuf {
    let path = root().join("tests/contract/specs").join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

fn run(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

fn prism_bin() -> PathBuf {
    let dir = root().join("tests/contract");
    let bin = dir.join("node_modules/.bin/prism");
    if !bin.exists() {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm ci (Prism)",
        );
    }
    bin
}

fn ensure_validator() {
    let present = Command::new("python3")
        .args(["-c", "import openapi_schema_validator, yaml"])
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        let requirements = root().join("tests/contract/requirements.txt");
        run(
            Command::new("python3")
                .args(["-m", "pip", "install", "-q", "-r"])
                .arg(requirements),
            "pip install (contract validator)",
        );
    }
}

/// Prism serving a spec on a free loopback port; stopped when dropped (and by a watchdog if this
/// process dies first).
pub struct Prism {
    pub base: String,
    child: Child,
}

impl Prism {
    pub async fn mock(spec: &Path) -> Prism {
        let bin = prism_bin();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = format!(
            "\"$0\" mock -h 127.0.0.1 -p {port} \"$1\" & p=$!; while kill -0 {} 2>/dev/null && kill -0 $p 2>/dev/null; do sleep 1; done; kill $p 2>/dev/null",
            std::process::id()
        );
        let mut child = Command::new("sh")
            .process_group(0)
            .arg("-c")
            .arg(script)
            .arg(&bin)
            .arg(spec)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Prism");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Prism { base, child };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = Command::new("kill")
            .args(["--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
        panic!("Prism did not start on port {port}");
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        // Prism and its watchdog shell share a process group of their own: end both.
        let _ = Command::new("kill")
            .args(["--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// One recorded answer, for `validate_responses.py`.
pub fn case(method: &str, path: &str, status: u16, body: Value) -> Value {
    json!({"method": method, "path": path, "status": status, "body": body})
}

/// Checks recorded answers against the spec's response schemas; fails the test with every violation.
pub fn assert_responses_match(spec: &Path, cases: &[Value]) {
    ensure_validator();
    let file = std::env::temp_dir().join(format!("cowry-contract-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec(cases).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(root().join("tests/contract/validate_responses.py"))
        .arg(spec)
        .arg(&file)
        .output()
        .expect("running the contract validator");
    let _ = std::fs::remove_file(&file);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "responses break {}:\n{report}{}",
        spec.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

mod paystack {
    use cowry::config::Secret;
    use cowry::domain::{currency::Currency, money::Money};
    use cowry::providers::http::{HttpPolicy, ProviderHttp};
    use cowry::providers::paystack::{ChargeSource, Paystack};
    use cowry::providers::ProviderError;
    use reqwest::StatusCode;
    use serde_json::{json, Value};

    use super::{assert_responses_match, case, spec, Prism};
    use crate::common::spawn_with;

    fn ngn(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("NGN").unwrap())
    }

    /// The spec only lets Prism invent placeholder data, so an answer may be unusable to the adapter
    /// (`Protocol`); what must never happen is Prism refusing the request (`Rejected`, `BadCredentials`).
    fn accepted<T: std::fmt::Debug>(operation: &str, result: Result<T, ProviderError>) {
        match result {
            Ok(_) | Err(ProviderError::Protocol { .. }) => {}
            Err(e) => panic!("{operation}: Prism refused the adapter's request: {e}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_adapter_speaks_the_official_spec() {
        let prism = Prism::mock(&spec("paystack.openapi.yaml")).await;
        let paystack = Paystack::new(
            &prism.base,
            Secret::new("sk_test_contract"),
            ProviderHttp::new(HttpPolicy::default()),
        );
        let ghs = Money::from_minor(2_500, Currency::parse("GHS").unwrap());
        accepted(
            "initialize",
            paystack
                .initialize(
                    "amina@example.com",
                    ngn(4_500_000),
                    "PSK-txn-1",
                    &["card", "bank_transfer"],
                    Some("Acme Stores"),
                    Some("https://cowry.test/consent/x/done"),
                )
                .await,
        );
        accepted("verify", paystack.verify("PSK-txn-1").await);
        accepted(
            "charge (mobile money)",
            paystack
                .charge(
                    "k@example.com",
                    ghs,
                    "momo-1",
                    ChargeSource::MobileMoney {
                        phone: "0551234987",
                        network: "mtn",
                    },
                )
                .await,
        );
        accepted(
            "charge (bank)",
            paystack
                .charge(
                    "k@example.com",
                    ngn(10_000),
                    "bank-1",
                    ChargeSource::Bank {
                        code: "057",
                        account_number: "0000000000",
                    },
                )
                .await,
        );
        accepted(
            "charge_authorization",
            paystack
                .charge_authorization("a@example.com", ngn(10_000), "AUTH_72btv547", "debit-1")
                .await,
        );
        accepted(
            "initialize_authorization",
            paystack
                .initialize_authorization(
                    "ada@example.com",
                    Some("https://cowry.test/consent/x/done"),
                )
                .await,
        );
        accepted(
            "verify_authorization",
            paystack
                .verify_authorization("dfbzfotsrbv4n5s82t4mp5b5mfn51h")
                .await,
        );
        accepted(
            "deactivate_authorization",
            paystack.deactivate_authorization("AUTH_72btv547").await,
        );
        accepted(
            "refund",
            paystack.refund("PSK-txn-1", "card verification").await,
        );
        accepted(
            "fetch_customer",
            paystack.customer_id("CUS_24lze1c8i2zl76y").await,
        );
        accepted(
            "mandate_authorizations",
            paystack.mandate_authorizations(297346561).await,
        );
        accepted(
            "activation_charge",
            paystack
                .retry_activation_charge(297346561, 1069309917)
                .await,
        );
        accepted(
            "dedicated_account",
            paystack
                .dedicated_account(
                    "a@example.com",
                    "Amina",
                    "Lawal",
                    "+2348012345678",
                    "test-bank",
                )
                .await,
        );

        // The referee works: a request that breaks the spec is refused, and a missing key is a 401.
        let client = reqwest::Client::new();
        let broken = client
            .post(format!("{}/transaction/initialize", prism.base))
            .bearer_auth("sk_test_contract")
            .json(&json!({"email": "a@example.com", "amount": "4500000"}))
            .send()
            .await
            .unwrap();
        assert!(broken.status().is_client_error(), "{}", broken.status());
        assert!(broken.headers().contains_key("sl-violations"));
        let anonymous = client
            .get(format!("{}/transaction/verify/x", prism.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_emulator_answers_as_the_official_spec_says() {
        let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
        let base = format!("{}/_emulator/paystack", app.base);
        let client = reqwest::Client::new();
        let key = "sk_test_contract_secret";
        let mut cases = Vec::new();
        let mut call = async |method: &str,
                              path: &str,
                              template: &str,
                              body: Option<Value>,
                              key: &str|
               -> Value {
            let mut request = client
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{base}{path}"),
                )
                .bearer_auth(key);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let body: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path} -> {status}: {e}: {text:?}"));
            cases.push(case(method, template, status, body.clone()));
            body
        };
        let init = json!({"email": "amina@example.com", "amount": 4500000, "currency": "NGN", "reference": "ref-1"});
        call(
            "post",
            "/transaction/initialize",
            "/transaction/initialize",
            Some(init.clone()),
            key,
        )
        .await;
        call(
            "post",
            "/transaction/initialize",
            "/transaction/initialize",
            Some(init),
            key,
        )
        .await; // duplicate
        call(
            "post",
            "/transaction/initialize",
            "/transaction/initialize",
            Some(json!({"email": "x", "amount": 5})),
            key,
        )
        .await;
        call(
            "post",
            "/transaction/initialize",
            "/transaction/initialize",
            Some(json!({"email": "a@b.co", "amount": 5})),
            "sk_live_nope",
        )
        .await;
        call(
            "get",
            "/transaction/verify/ref-1",
            "/transaction/verify/{reference}",
            None,
            key,
        )
        .await; // pending
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let verified = call(
            "get",
            "/transaction/verify/ref-1",
            "/transaction/verify/{reference}",
            None,
            key,
        )
        .await;
        call(
            "get",
            "/transaction/verify/nope",
            "/transaction/verify/{reference}",
            None,
            key,
        )
        .await;
        let code = verified["data"]["authorization"]["authorization_code"]
            .as_str()
            .unwrap()
            .to_owned();
        let debit = json!({"email": "amina@example.com", "amount": 4500000, "authorization_code": code, "reference": "ref-2", "currency": "NGN"});
        call(
            "post",
            "/transaction/charge_authorization",
            "/transaction/charge_authorization",
            Some(debit),
            key,
        )
        .await;
        let momo = json!({"email": "k@example.com", "amount": 2500, "currency": "GHS", "reference": "ref-3",
                          "mobile_money": {"phone": "0551234987", "provider": "mtn"}});
        call("post", "/charge", "/charge", Some(momo), key).await;
        let customer = call("post", "/customer", "/customer", Some(json!({"email": "a@example.com", "first_name": "Amina", "last_name": "Lawal", "phone": "+2348012345678"})), key).await;
        let code = customer["data"]["customer_code"]
            .as_str()
            .unwrap()
            .to_owned();
        call(
            "post",
            "/dedicated_account",
            "/dedicated_account",
            Some(json!({"customer": code, "preferred_bank": "test-bank"})),
            key,
        )
        .await;
        // Direct-debit mandates: requested, not found until approved, then the authorization.
        let mandate = call(
            "post",
            "/customer/authorization/initialize",
            "/customer/authorization/initialize",
            Some(
                json!({"email": "ada+manual@example.com", "channel": "direct_debit",
                        "callback_url": "https://cowry.test/consent/x/done"}),
            ),
            key,
        )
        .await;
        let reference = mandate["data"]["reference"].as_str().unwrap().to_owned();
        let verify = format!("/customer/authorization/verify/{reference}");
        call(
            "get",
            &verify,
            "/customer/authorization/verify/{reference}",
            None,
            key,
        )
        .await;
        let page = mandate["data"]["redirect_url"]
            .as_str()
            .unwrap()
            .replace("http://cowry.test", &app.base);
        let approved = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{page}/approve"))
            .send()
            .await
            .unwrap();
        assert_eq!(approved.status(), StatusCode::SEE_OTHER);
        let authorization = call(
            "get",
            &verify,
            "/customer/authorization/verify/{reference}",
            None,
            key,
        )
        .await;
        assert_eq!(
            authorization["data"]["active"], false,
            "approved, not yet active"
        );
        let code = authorization["data"]["authorization_code"]
            .as_str()
            .unwrap()
            .to_owned();
        // The activation-charge retry: the customer's id, their mandates' ids, the retry.
        let customer_code = authorization["data"]["customer"]["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let customer = call(
            "get",
            &format!("/customer/{customer_code}"),
            "/customer/{code}",
            None,
            key,
        )
        .await;
        let customer_id = customer["data"]["id"].as_i64().unwrap();
        let mandates = call(
            "get",
            &format!("/customer/{customer_id}/directdebit-mandate-authorizations"),
            "/customer/{id}/directdebit-mandate-authorizations",
            None,
            key,
        )
        .await;
        assert_eq!(mandates["data"][0]["authorization_code"], code.as_str());
        let authorization_id = mandates["data"][0]["authorization_id"].as_i64().unwrap();
        call(
            "put",
            &format!("/customer/{customer_id}/directdebit-activation-charge"),
            "/customer/{id}/directdebit-activation-charge",
            Some(json!({"authorization_id": authorization_id})),
            key,
        )
        .await;
        // A refund of the paid transaction, then a second one (refused).
        for _ in 0..2 {
            call(
                "post",
                "/refund",
                "/refund",
                Some(json!({"transaction": "ref-1"})),
                key,
            )
            .await;
        }
        call(
            "post",
            "/customer/authorization/deactivate",
            "/customer/authorization/deactivate",
            Some(json!({"authorization_code": code})),
            key,
        )
        .await;
        assert_responses_match(&spec("paystack.openapi.yaml"), &cases);
    }
}

mod mtn_momo {
    use cowry::config::Secret;
    use cowry::domain::{currency::Currency, money::Money};
    use cowry::providers::http::{HttpPolicy, ProviderHttp};
    use cowry::providers::mtn_momo::{MomoAccount, MtnMomo, PayRequest};
    use cowry::providers::ProviderError;
    use reqwest::StatusCode;
    use serde_json::{json, Value};
    use uuid::Uuid;

    use super::{assert_responses_match, case, spec, Prism};
    use crate::common::spawn_with;

    const API_USER: &str = "0b2f8e9c-3c59-4a37-9a59-2f0c8d1e6a11";

    fn accepted<T: std::fmt::Debug>(operation: &str, result: Result<T, ProviderError>) {
        match result {
            Ok(_) | Err(ProviderError::Protocol { .. }) => {}
            Err(e) => panic!("{operation}: Prism refused the adapter's request: {e}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_adapter_speaks_the_official_spec() {
        // The vendored copy's paths carry the basePath (/collection), which Prism would ignore: the
        // adapter is given the host, as MTN's portal shows it, and builds /collection/… itself.
        let prism = Prism::mock(&spec("mtn-momo-collection.prism.json")).await;
        let momo = MtnMomo::new(
            MomoAccount {
                base_url: prism.base.clone(),
                api_user: API_USER.to_owned(),
                api_key: Secret::new("contract-api-key"),
                subscription_key: Secret::new("contract-subscription"),
                target_environment: "sandbox".to_owned(),
            },
            ProviderHttp::new(HttpPolicy::default()),
            Default::default(),
        );
        let ugx = Money::from_minor(2_500, Currency::parse("UGX").unwrap());
        accepted("token", momo.token().await);
        let reference = Uuid::new_v4();
        accepted(
            "request_to_pay",
            momo.request_to_pay(&PayRequest {
                reference_id: reference,
                amount: ugx,
                external_id: "order-1",
                payer_e164: "+256772123456",
                payer_message: "Pay order 1",
                payee_note: "Order 1",
                callback_url: Some("https://cowry.example/webhooks/mtn_momo"),
            })
            .await,
        );
        // The spec's first example for the status is a SUCCESSFUL payment of 100 UGX.
        let status = momo.status(reference).await.unwrap();
        assert_eq!(
            status.amount,
            Money::from_minor(100, Currency::parse("UGX").unwrap())
        );
        accepted(
            "account_holder_active",
            momo.is_active("+256772123456").await,
        );

        // The referee works: no subscription key is a 401; a body that breaks the schema is refused.
        let client = reqwest::Client::new();
        let anonymous = client
            .post(format!("{}/collection/token/", prism.base))
            .header("Authorization", "Basic eDp5")
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let broken = client
            .post(format!("{}/collection/v1_0/requesttopay", prism.base))
            .header("Ocp-Apim-Subscription-Key", "k")
            .header("Authorization", "Bearer t")
            .header("X-Target-Environment", "sandbox")
            .header("X-Reference-Id", Uuid::new_v4().to_string())
            .json(&json!({"amount": 100, "currency": "UGX", "payer": {"partyIdType": "PHONE", "partyId": "256772123456"}}))
            .send()
            .await
            .unwrap();
        assert!(broken.status().is_client_error(), "{}", broken.status());
        let no_reference = client
            .post(format!("{}/collection/v1_0/requesttopay", prism.base))
            .header("Ocp-Apim-Subscription-Key", "k")
            .header("X-Target-Environment", "sandbox")
            .json(&json!({"amount": "100", "currency": "UGX"}))
            .send()
            .await
            .unwrap();
        assert!(
            no_reference.status().is_client_error(),
            "X-Reference-Id is required: {}",
            no_reference.status()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_emulator_answers_as_the_official_spec_says() {
        let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "10")]).await;
        let base = format!("{}/_emulator/mtn_momo/collection", app.base);
        let client = reqwest::Client::new();
        let mut cases = Vec::new();
        let basic =
            "Basic MGIyZjhlOWMtM2M1OS00YTM3LTlhNTktMmYwYzhkMWU2YTExOmVtdWxhdG9yLWFwaS1rZXk="; // API_USER:emulator-api-key
        let mut record =
            async |method: &str, template: &str, response: reqwest::Response| -> Value {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                let body: Value = if text.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap()
                };
                if !body.is_null() {
                    cases.push(case(method, template, status, body.clone()));
                }
                body
            };
        let token = client
            .post(format!("{base}/token/"))
            .header("Authorization", basic)
            .header("Ocp-Apim-Subscription-Key", "sub")
            .send()
            .await
            .unwrap();
        let token = record("post", "/token/", token).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let refused = client
            .post(format!("{base}/token/"))
            .header("Authorization", "Basic eDp5")
            .header("Ocp-Apim-Subscription-Key", "sub")
            .send()
            .await
            .unwrap();
        record("post", "/token/", refused).await;

        let call = |method: reqwest::Method, path: String| {
            client
                .request(method, format!("{base}{path}"))
                .bearer_auth(&token)
                .header("Ocp-Apim-Subscription-Key", "sub")
                .header("X-Target-Environment", "sandbox")
        };
        let body = json!({"amount": "2500", "currency": "UGX", "externalId": "o1", "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"},
                          "payerMessage": "m", "payeeNote": "n"});
        let failing = json!({"amount": "2500", "currency": "UGX", "externalId": "o2", "payer": {"partyIdType": "MSISDN", "partyId": "256772120001"},
                             "payerMessage": "m", "payeeNote": "n"});
        let (ok, bad) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        let accepted = call(reqwest::Method::POST, "/v1_0/requesttopay".to_owned())
            .header("X-Reference-Id", &ok)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        let failing_call = call(reqwest::Method::POST, "/v1_0/requesttopay".to_owned())
            .header("X-Reference-Id", &bad)
            .json(&failing)
            .send()
            .await
            .unwrap();
        assert_eq!(failing_call.status(), StatusCode::ACCEPTED);
        let duplicate = call(reqwest::Method::POST, "/v1_0/requesttopay".to_owned())
            .header("X-Reference-Id", &ok)
            .json(&body)
            .send()
            .await
            .unwrap();
        record("post", "/v1_0/requesttopay", duplicate).await;
        let pending = call(reqwest::Method::GET, format!("/v1_0/requesttopay/{ok}"))
            .send()
            .await
            .unwrap();
        record("get", "/v1_0/requesttopay/{referenceId}", pending).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        for reference in [&ok, &bad] {
            let settled = call(
                reqwest::Method::GET,
                format!("/v1_0/requesttopay/{reference}"),
            )
            .send()
            .await
            .unwrap();
            record("get", "/v1_0/requesttopay/{referenceId}", settled).await;
        }
        let missing = call(
            reqwest::Method::GET,
            format!("/v1_0/requesttopay/{}", Uuid::new_v4()),
        )
        .send()
        .await
        .unwrap();
        record("get", "/v1_0/requesttopay/{referenceId}", missing).await;
        let wrong_environment = client
            .get(format!("{base}/v1_0/requesttopay/{ok}"))
            .bearer_auth(&token)
            .header("Ocp-Apim-Subscription-Key", "sub")
            .header("X-Target-Environment", "mtnuganda")
            .send()
            .await
            .unwrap();
        record("get", "/v1_0/requesttopay/{referenceId}", wrong_environment).await;
        assert_eq!(cases.len(), 8, "{cases:?}");
        assert_responses_match(&spec("mtn-momo-collection.swagger.json"), &cases);
    }
}
