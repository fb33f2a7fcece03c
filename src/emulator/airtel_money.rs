//! An Airtel Money emulator, from copies of Airtel's Open API docs and independent integrations: an
//! OAuth client-credentials token (`expires_in` as the string "180", like Airtel's sample), payment
//! requests that need `X-Country`/`X-Currency` matching the body and a national MSISDN, a 200 that means
//! "accepted", status enquiry with `TS`/`TF`/`TIP` and `DP008000010xx` response codes, and one unsigned
//! callback per final result to `{webhooks}/airtel_money` (Airtel's URL is set in its portal, not per
//! request). Outcomes come from the MSISDN's last four digits (see README).
//!
//! Signed collections, as Airtel's maintained client sends them by default: `GET /v1/rsa/encryption-keys`
//! gives an RSA public key (base64 DER, one key per process), and `POST /merchant/v2/payments/` must carry
//! `x-signature` (base64 AES-256-CBC/PKCS#7 of the exact body bytes) and `x-key` (base64 RSA PKCS#1 v1.5
//! of `"<key b64>:<iv b64>"`); a missing or wrong signature is Airtel's 403. The unsigned v1 stays, except
//! for apps set to require signing: here, client ids starting with `signed-` (v1 is then a 403).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use super::pages::{self, Prompt};
use super::{Answer, EmulatorConfig, Outcome};

const TOKEN_LIFETIME: Duration = Duration::from_secs(180);
/// Markets the emulator serves: (country, currency).
const MARKETS: [(&str, &str); 8] = [
    ("UG", "UGX"),
    ("KE", "KES"),
    ("TZ", "TZS"),
    ("RW", "RWF"),
    ("ZM", "ZMW"),
    ("MW", "MWK"),
    ("NG", "NGN"),
    ("CD", "CDF"),
];

#[derive(Clone)]
struct Emulator {
    config: EmulatorConfig,
    ledger: Arc<Mutex<Ledger>>,
    client: reqwest::Client,
}

#[derive(Default)]
struct Ledger {
    /// token → (client id, expiry)
    tokens: super::Capped<String, (String, Instant)>,
    /// (client id, transaction id) → payment
    payments: super::Capped<(String, String), Payment>,
    failed_once: HashSet<(String, String)>,
    next_id: u64,
}

#[derive(Clone)]
struct Payment {
    msisdn: String,
    /// What the phone shows: "UGX 1000", and the payment's reference text.
    amount: String,
    reference: String,
    status: &'static str,
    response_code: &'static str,
    message: String,
    airtel_money_id: Option<String>,
}

pub fn router(config: EmulatorConfig) -> Router {
    let emulator = Emulator {
        config,
        ledger: Arc::default(),
        client: reqwest::Client::new(),
    };
    Router::new()
        .route("/auth/oauth2/token", post(token))
        .route("/v1/rsa/encryption-keys", get(encryption_key))
        .route("/merchant/v1/payments/", post(collect))
        .route("/merchant/v2/payments/", post(signed_collect))
        .route("/standard/v1/payments/{id}", get(enquiry))
        .route("/standard/v1/users/{msisdn}", get(user_enquiry))
        .route("/prompts", get(prompts_page))
        .route("/prompts/{id}/{action}", post(prompt_action))
        .with_state(emulator)
}

fn status_only(http: StatusCode, code: &str, message: &str, response_code: &str) -> Response {
    (
        http,
        Json(json!({"status": {"code": http.as_u16().to_string(), "message": message, "result_code": code,
                                "response_code": response_code, "success": false}})),
    )
        .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl Emulator {
    /// The client id behind a live bearer token, with the market headers checked.
    fn authorize(&self, headers: &HeaderMap) -> Result<(String, String, String), Box<Response>> {
        let token = header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer "));
        let client = token.and_then(|t| {
            let ledger = self.ledger.lock().expect("ledger");
            ledger
                .tokens
                .get(t)
                .filter(|(_, expiry)| *expiry > Instant::now())
                .map(|(client, _)| client.clone())
        });
        let Some(client) = client else {
            return Err(Box::new(status_only(
                StatusCode::UNAUTHORIZED,
                "ESB000041",
                "Invalid or expired token",
                "",
            )));
        };
        let (Some(country), Some(currency)) =
            (header(headers, "x-country"), header(headers, "x-currency"))
        else {
            return Err(Box::new(status_only(
                StatusCode::BAD_REQUEST,
                "ESB000008",
                "X-Country and X-Currency are required",
                "",
            )));
        };
        if !MARKETS.contains(&(country, currency)) {
            return Err(Box::new(status_only(
                StatusCode::BAD_REQUEST,
                "ESB000008",
                "Unsupported country or currency",
                "",
            )));
        }
        Ok((client, country.to_owned(), currency.to_owned()))
    }

    /// The payer's magic number settles the prompt by itself; with no magic ending it does so only when
    /// `autosettle` is on (else the payer answers on the prompts page).
    fn settle_later(&self, client: String, id: String, msisdn: &str) {
        if !self.config.autosettle && Outcome::from_phone(msisdn) == Outcome::Succeed {
            return;
        }
        let emulator = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(emulator.config.settle_delay).await;
            emulator.settle(client, id, None).await;
        });
    }

    /// Settles a payment in progress (by the payer's `answer`, or by the magic number) and sends
    /// Airtel's callback to the URL set in its portal.
    async fn settle(&self, client: String, id: String, answer: Option<Answer>) {
        let callback = {
            let mut ledger = self.ledger.lock().expect("ledger");
            ledger.next_id += 1;
            let money_id = format!(
                "MP{:06}.{:04}.L{:05}",
                261124,
                ledger.next_id % 10_000,
                ledger.next_id
            );
            let Some(payment) = ledger.payments.get_mut(&(client, id.clone())) else {
                return;
            };
            if payment.status != "TIP" {
                return;
            }
            let outcome = match answer {
                None => Outcome::from_phone(&payment.msisdn),
                Some(Answer::Pay) => Outcome::Succeed,
                Some(Answer::Decline | Answer::Abandon) => Outcome::Fail,
            };
            match outcome {
                Outcome::StayPending => return,
                Outcome::Fail => {
                    payment.status = "TF";
                    if answer.is_some() {
                        payment.response_code = "DP00800001005";
                        payment.message = "The transaction was declined by the payer".to_owned();
                    } else {
                        payment.response_code = "DP00800001007";
                        payment.message = "Insufficient funds".to_owned();
                    }
                }
                _ => {
                    payment.status = "TS";
                    payment.response_code = "DP00800001001";
                    payment.message = "Transaction is successful".to_owned();
                    payment.airtel_money_id = Some(money_id);
                }
            }
            (answer.is_some() || outcome != Outcome::SucceedSilently).then(|| {
                json!({"transaction": {"id": id, "message": payment.message, "status_code": payment.status,
                                       "airtel_money_id": payment.airtel_money_id}})
            })
        };
        if let Some(body) = callback {
            let url = format!(
                "{}/airtel_money",
                self.config.webhook_base.trim_end_matches('/')
            );
            if let Err(e) = self.client.post(&url).json(&body).send().await {
                tracing::debug!(error = %e, "emulated Airtel callback not delivered");
            }
        }
    }
}

/// `GET /_emulator/airtel_money/prompts`: the payers' phones — every payment in progress, to approve
/// or reject.
async fn prompts_page(State(emulator): State<Emulator>) -> Response {
    let ledger = emulator.ledger.lock().expect("ledger");
    let prompts: Vec<Prompt> = ledger
        .payments
        .iter()
        .filter(|(_, p)| p.status == "TIP")
        .map(|((_, id), p)| Prompt {
            id: id.clone(),
            payer: p.msisdn.clone(),
            amount: p.amount.clone(),
            message: p.reference.clone(),
        })
        .collect();
    drop(ledger);
    pages::prompts("Airtel Money", "airtel_money", prompts)
}

/// The payer approved or rejected a prompt on the phone.
async fn prompt_action(
    State(emulator): State<Emulator>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let Some(answer) = pages::prompt_answer(&action) else {
        return pages::not_found("No such action.");
    };
    let owner = emulator
        .ledger
        .lock()
        .expect("ledger")
        .payments
        .keys()
        .find(|(_, payment)| *payment == id)
        .map(|(client, _)| client.clone());
    let Some(client) = owner else {
        return pages::not_found("No such prompt.");
    };
    emulator.settle(client, id, Some(answer)).await;
    pages::back_to("/_emulator/airtel_money/prompts")
}

async fn token(State(emulator): State<Emulator>, body: Option<Json<Value>>) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let client = body["client_id"].as_str().filter(|c| !c.is_empty());
    let secret_ok = body["client_secret"].as_str().is_some_and(|s| s.len() >= 8);
    let (Some(client), true, Some("client_credentials")) =
        (client, secret_ok, body["grant_type"].as_str())
    else {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error_description": "Invalid client credentials", "error": "invalid_client"})))
            .into_response();
    };
    let token = format!("airtel-{}", uuid::Uuid::new_v4().simple());
    emulator.ledger.lock().expect("ledger").tokens.insert(
        token.clone(),
        (client.to_owned(), Instant::now() + TOKEN_LIFETIME),
    );
    Json(json!({"token_type": "bearer", "access_token": token, "expires_in": TOKEN_LIFETIME.as_secs().to_string()})).into_response()
}

/// The process's RSA key pair for signed requests, made on first use (2048 bits).
fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("an RSA key can be made")
    })
}

async fn encryption_key(State(emulator): State<Emulator>, headers: HeaderMap) -> Response {
    if let Err(response) = emulator.authorize(&headers) {
        return *response;
    }
    use rsa::pkcs8::EncodePublicKey;
    let key = tokio::task::spawn_blocking(|| rsa_key().to_public_key())
        .await
        .expect("key generation does not panic");
    let der = key.to_public_key_der().expect("a public key encodes");
    let valid_upto = (chrono::Utc::now() + chrono::TimeDelta::days(30))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    Json(json!({
        "data": {"key": B64.encode(der.as_bytes()), "valid_upto": valid_upto},
        "status": {"code": "200", "message": "SUCCESS", "result_code": "ESB000010", "success": true}
    }))
    .into_response()
}

/// Whether `x-signature` is the AES-256-CBC/PKCS#7 encryption of `body` under the key and IV sealed in
/// `x-key` with this process's RSA key.
fn signature_matches(body: &[u8], signature: &str, sealed: &str) -> bool {
    use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
    let Ok(sealed) = B64.decode(sealed.trim()) else {
        return false;
    };
    let Ok(pair) = rsa_key().decrypt(rsa::Pkcs1v15Encrypt, &sealed) else {
        return false;
    };
    let Some((key, iv)) = std::str::from_utf8(&pair)
        .ok()
        .and_then(|p| p.split_once(':'))
    else {
        return false;
    };
    let (Ok(key), Ok(iv)) = (B64.decode(key), B64.decode(iv)) else {
        return false;
    };
    let Ok(cipher) = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv) else {
        return false;
    };
    let expected = cipher.encrypt_padded_vec_mut::<Pkcs7>(body);
    B64.decode(signature.trim())
        .is_ok_and(|given| subtle::ConstantTimeEq::ct_eq(&given[..], &expected[..]).into())
}

/// `POST /merchant/v2/payments/`: a collection that must be signed.
async fn signed_collect(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    if let Err(response) = emulator.authorize(&headers) {
        return *response;
    }
    let signed = match (header(&headers, "x-signature"), header(&headers, "x-key")) {
        (Some(signature), Some(key)) => {
            let (body, signature, key) = (raw.clone(), signature.to_owned(), key.to_owned());
            tokio::task::spawn_blocking(move || signature_matches(&body, &signature, &key))
                .await
                .unwrap_or(false)
        }
        _ => false,
    };
    if !signed {
        return status_only(
            StatusCode::FORBIDDEN,
            "ESB000045",
            "Invalid or missing message signature",
            "",
        );
    }
    let body = serde_json::from_slice(&raw).ok().map(Json);
    accept(emulator, headers, body, true).await
}

/// `POST /merchant/v1/payments/`: an unsigned collection.
async fn collect(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    accept(emulator, headers, body, false).await
}

/// A collection request (`signed` when its signature was verified).
async fn accept(
    emulator: Emulator,
    headers: HeaderMap,
    body: Option<Json<Value>>,
    signed: bool,
) -> Response {
    let (client, country, currency) = match emulator.authorize(&headers) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if client.starts_with("signed-") && !signed {
        return status_only(
            StatusCode::FORBIDDEN,
            "ESB000045",
            "This app requires signed payment requests (v2 with x-signature and x-key)",
            "",
        );
    }
    let Some(Json(body)) = body else {
        return status_only(
            StatusCode::BAD_REQUEST,
            "ESB000008",
            "Invalid request body",
            "",
        );
    };
    let transaction = &body["transaction"];
    let id = transaction["id"].as_str().filter(|i| !i.is_empty());
    let amount_ok = transaction["amount"].as_f64().is_some_and(|a| a > 0.0);
    let msisdn = body["subscriber"]["msisdn"]
        .as_str()
        .filter(|m| (7..=12).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_digit()));
    let market_ok = transaction["country"].as_str() == Some(&country)
        && transaction["currency"].as_str() == Some(&currency)
        && body["subscriber"]["country"].as_str() == Some(&country);
    let (Some(id), true, Some(msisdn), true) = (id, amount_ok, msisdn, market_ok) else {
        return status_only(
            StatusCode::BAD_REQUEST,
            "ESB000008",
            "transaction.id, a positive transaction.amount, a national subscriber.msisdn and the header's country and currency are required",
            "",
        );
    };
    let key = (client.clone(), id.to_owned());
    let mut ledger = emulator.ledger.lock().expect("ledger");
    if Outcome::from_phone(msisdn) == Outcome::ErrorFirst && ledger.failed_once.insert(key.clone())
    {
        return status_only(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ESB000001",
            "Something went wrong",
            "DP00800001000",
        );
    }
    let fresh = !ledger.payments.contains_key(&key);
    let payment = ledger
        .payments
        .get_or_insert_with(key, || Payment {
            msisdn: msisdn.to_owned(),
            amount: format!("{currency} {}", transaction["amount"]),
            reference: body["reference"].as_str().unwrap_or_default().to_owned(),
            status: "TIP",
            response_code: "DP00800001006",
            message: "In process".to_owned(),
            airtel_money_id: None,
        })
        .clone();
    drop(ledger);
    if fresh {
        emulator.settle_later(client, id.to_owned(), msisdn);
    }
    Json(json!({
        "data": {"transaction": {"id": id, "status": payment.status}},
        "status": {"code": "200", "message": "SUCCESS", "result_code": "ESB000010", "response_code": "DP00800001006", "success": true}
    }))
    .into_response()
}

async fn enquiry(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (client, _, _) = match emulator.authorize(&headers) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let ledger = emulator.ledger.lock().expect("ledger");
    match ledger.payments.get(&(client, id.clone())) {
        Some(payment) => Json(json!({
            "data": {"transaction": {"airtel_money_id": payment.airtel_money_id, "id": id, "message": payment.message,
                                     "status": payment.status}},
            "status": {"code": "200", "message": "SUCCESS", "result_code": "ESB000010", "response_code": payment.response_code, "success": true}
        }))
        .into_response(),
        None => status_only(StatusCode::OK, "ESB000010", "Transaction not found", "DP00800001025"),
    }
}

/// KYC user enquiry: every well-formed national number is a registered wallet, named after the
/// mobile-money document's example payer; MSISDNs are masked as Airtel masks them.
async fn user_enquiry(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(msisdn): Path<String>,
) -> Response {
    if let Err(response) = emulator.authorize(&headers) {
        return *response;
    }
    if !(7..=12).contains(&msisdn.len()) || !msisdn.bytes().all(|b| b.is_ascii_digit()) {
        return status_only(
            StatusCode::BAD_REQUEST,
            "ESB000008",
            "msisdn must be a national number",
            "",
        );
    }
    let masked = format!("{}****{}", &msisdn[..2], &msisdn[msisdn.len() - 2..]);
    Json(json!({
        "data": {"first_name": "MUJUNI", "grade": "SUBS", "is_barred": false, "is_pin_set": true,
                 "last_name": "INNOCENT", "msisdn": masked, "reg_status": "SUBS"},
        "status": {"code": "200", "message": "success", "result_code": "ESB000010", "success": true}
    }))
    .into_response()
}
