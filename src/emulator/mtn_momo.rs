//! An MTN MoMo Collection emulator, from MTN's Swagger export and callback guide: every call needs
//! `Ocp-Apim-Subscription-Key`; `POST /token/` takes Basic `apiUser:apiKey` (the API user is a UUID) and
//! returns a bearer token valid for 3600 seconds; request-to-pay answers 202 with no body and 409
//! `RESOURCE_ALREADY_EXIST` for a reused `X-Reference-Id`; the status answer is HTTP 200 even for FAILED;
//! `X-Target-Environment` must be `sandbox`; the final result is sent once, unsigned, as a PUT to the
//! `X-Callback-Url`. Outcomes come from the payer number's last four digits (see README).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use super::pages::{self, Prompt};
use super::{Answer, EmulatorConfig, Outcome};

const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How many status enquiries of a `…0005` payment answer 500: more than one enquiry's own retries.
const STATUS_ERRORS: u32 = 4;

#[derive(Clone)]
struct Emulator {
    config: EmulatorConfig,
    ledger: Arc<Mutex<Ledger>>,
    client: reqwest::Client,
}

#[derive(Default)]
struct Ledger {
    /// token → (subscription key it was issued under, expiry)
    tokens: super::Capped<String, (String, Instant)>,
    /// (subscription key, reference id) → payment
    payments: super::Capped<(String, String), Payment>,
    /// (subscription key, reference id) of `…0004` requests that already failed once
    failed_once: HashSet<(String, String)>,
    /// status enquiries answered with 500 so far, per `…0005` payment
    status_errors: super::Capped<(String, String), u32>,
    next_transaction: u64,
}

#[derive(Clone)]
struct Payment {
    amount: String,
    currency: String,
    external_id: String,
    party_id: String,
    payer_message: String,
    payee_note: String,
    status: &'static str,
    reason: Option<&'static str>,
    financial_transaction_id: Option<String>,
    /// Where MTN calls back once (the request's `X-Callback-Url`).
    callback: Option<String>,
}

pub fn router(config: EmulatorConfig) -> Router {
    let emulator = Emulator {
        config,
        ledger: Arc::default(),
        client: reqwest::Client::new(),
    };
    // MTN's real layout: clients are configured with the host and build `/collection/…` themselves.
    let collection = Router::new()
        .route("/token/", post(token))
        .route("/v1_0/requesttopay", post(request_to_pay))
        .route("/v1_0/requesttopay/{reference_id}", get(status))
        .route(
            "/v1_0/accountholder/{id_type}/{id}/active",
            get(account_holder_active),
        )
        .with_state(emulator.clone());
    let phones = Router::new()
        .route("/prompts", get(prompts_page))
        .route("/prompts/{reference_id}/{action}", post(prompt_action))
        .with_state(emulator);
    Router::new().nest("/collection", collection).merge(phones)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn reason(status: StatusCode, code: &str, message: &str) -> Response {
    answer(status, json!({"code": code, "message": message}))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Azure API Management's answer when the subscription key is missing.
fn missing_subscription_key() -> Response {
    answer(
        StatusCode::UNAUTHORIZED,
        json!({"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}),
    )
}

impl Emulator {
    /// The subscription key of a request with a live bearer token for the sandbox, or MTN's refusal.
    fn authorize(&self, headers: &HeaderMap) -> Result<String, Box<Response>> {
        let Some(subscription) = header(headers, "ocp-apim-subscription-key") else {
            return Err(Box::new(missing_subscription_key()));
        };
        let token = header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer "));
        let live = token.is_some_and(|t| {
            let ledger = self.ledger.lock().expect("ledger");
            ledger
                .tokens
                .get(t)
                .is_some_and(|(key, expiry)| key == subscription && *expiry > Instant::now())
        });
        if !live {
            return Err(Box::new(answer(
                StatusCode::UNAUTHORIZED,
                json!({"statusCode": 401, "message": "Access denied due to invalid or expired access token."}),
            )));
        }
        if header(headers, "x-target-environment") != Some("sandbox") {
            return Err(Box::new(reason(
                StatusCode::INTERNAL_SERVER_ERROR,
                "NOT_ALLOWED_TARGET_ENVIRONMENT",
                "Access to target environment is forbidden.",
            )));
        }
        Ok(subscription.to_owned())
    }

    /// MTN calls back only on the merchant's registered callback host: here, Cowry's own configured
    /// address. Any other `X-Callback-Url` is not called (the emulator is no open request forwarder).
    fn may_call_back(&self, url: &str) -> bool {
        let origin = |text: &str| {
            reqwest::Url::parse(text).ok().map(|u| {
                (
                    u.scheme().to_owned(),
                    u.host_str().map(str::to_owned),
                    u.port_or_known_default(),
                )
            })
        };
        let allowed = origin(&self.config.webhook_base);
        let ok = allowed.is_some() && origin(url) == allowed;
        if !ok {
            tracing::debug!(
                "emulated MoMo ignores an X-Callback-Url off the registered callback host"
            );
        }
        ok
    }

    /// The payer's magic number settles the prompt by itself; with no magic ending it does so only when
    /// `autosettle` is on (else the payer answers on the prompts page).
    fn settle_later(&self, subscription: String, reference_id: String, party_id: &str) {
        if !self.config.autosettle && Outcome::from_phone(party_id) == Outcome::Succeed {
            return;
        }
        let emulator = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(emulator.config.settle_delay).await;
            emulator.settle(subscription, reference_id, None).await;
        });
    }

    /// Settles a pending payment (by the payer's `answer`, or by the magic number) and sends MTN's one
    /// callback.
    async fn settle(&self, subscription: String, reference_id: String, answer: Option<Answer>) {
        let settled = {
            let mut ledger = self.ledger.lock().expect("ledger");
            ledger.next_transaction += 1;
            let transaction = format!("{}", 1_855_000_000 + ledger.next_transaction);
            let Some(payment) = ledger.payments.get_mut(&(subscription, reference_id)) else {
                return;
            };
            if payment.status != "PENDING" {
                return;
            }
            let outcome = match answer {
                None => Outcome::from_phone(&payment.party_id),
                Some(Answer::Pay) => Outcome::Succeed,
                Some(Answer::Decline | Answer::Abandon) => Outcome::Fail,
            };
            match outcome {
                Outcome::StayPending => return,
                Outcome::WrongAmount => {
                    payment.status = "SUCCESSFUL";
                    payment.financial_transaction_id = Some(transaction);
                    // One unit short: what a buggy or tampered settlement looks like.
                    let asked: f64 = payment.amount.parse().unwrap_or(1.0);
                    payment.amount = format!("{}", (asked - 1.0).max(0.0));
                }
                Outcome::Fail => {
                    payment.status = "FAILED";
                    payment.reason = Some(if answer.is_some() {
                        "APPROVAL_REJECTED"
                    } else {
                        "NOT_ENOUGH_FUNDS"
                    });
                }
                _ => {
                    payment.status = "SUCCESSFUL";
                    payment.financial_transaction_id = Some(transaction);
                }
            }
            (outcome, result_json(payment), payment.callback.clone())
        };
        let (outcome, body, callback) = settled;
        let silent =
            answer.is_none() && matches!(outcome, Outcome::SucceedSilently | Outcome::StatusErrors);
        if let (Some(url), false) = (callback, silent) {
            // Sent once; MTN does not retry.
            if let Err(e) = self.client.put(&url).json(&body).send().await {
                tracing::debug!(error = %e, "emulated MoMo callback not delivered");
            }
        }
    }
}

/// `GET /_emulator/mtn_momo/prompts`: the payers' phones — every open request-to-pay, to approve or
/// reject.
async fn prompts_page(State(emulator): State<Emulator>) -> Response {
    let ledger = emulator.ledger.lock().expect("ledger");
    let prompts: Vec<Prompt> = ledger
        .payments
        .iter()
        .filter(|(_, p)| p.status == "PENDING")
        .map(|((_, reference), p)| Prompt {
            id: reference.clone(),
            payer: format!("+{}", p.party_id),
            amount: format!("{} {}", p.currency, p.amount),
            message: p.payer_message.clone(),
        })
        .collect();
    drop(ledger);
    pages::prompts("MTN MoMo", "mtn_momo", prompts)
}

/// The payer approved or rejected a prompt on the phone.
async fn prompt_action(
    State(emulator): State<Emulator>,
    Path((reference_id, action)): Path<(String, String)>,
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
        .find(|(_, reference)| *reference == reference_id)
        .map(|(subscription, _)| subscription.clone());
    let Some(subscription) = owner else {
        return pages::not_found("No such prompt.");
    };
    emulator
        .settle(subscription, reference_id, Some(answer))
        .await;
    pages::back_to("/_emulator/mtn_momo/prompts")
}

fn result_json(payment: &Payment) -> Value {
    let mut body = json!({
        "amount": payment.amount, "currency": payment.currency, "externalId": payment.external_id,
        "payer": {"partyIdType": "MSISDN", "partyId": payment.party_id},
        "payerMessage": payment.payer_message, "payeeNote": payment.payee_note, "status": payment.status,
    });
    if let Some(id) = &payment.financial_transaction_id {
        body["financialTransactionId"] = json!(id);
    }
    // The live API sends a FAILED payment's reason as a bare code string, although MTN's Swagger draws
    // an `ErrorReason` object: clients are written against the live API, so the emulator follows it.
    if let Some(code) = payment.reason {
        body["reason"] = json!(code);
    }
    body
}

async fn token(State(emulator): State<Emulator>, headers: HeaderMap) -> Response {
    let Some(subscription) = header(&headers, "ocp-apim-subscription-key") else {
        return missing_subscription_key();
    };
    let credentials = header(&headers, "authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let valid = credentials
        .as_deref()
        .and_then(|c| c.split_once(':'))
        .is_some_and(|(user, key)| uuid::Uuid::parse_str(user).is_ok() && key.len() >= 8);
    if !valid {
        return answer(StatusCode::UNAUTHORIZED, json!({"error": "login_failed"}));
    }
    let token = format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSMjU2In0.{}",
        uuid::Uuid::new_v4().simple()
    );
    emulator.ledger.lock().expect("ledger").tokens.insert(
        token.clone(),
        (subscription.to_owned(), Instant::now() + TOKEN_LIFETIME),
    );
    answer(
        StatusCode::OK,
        json!({"access_token": token, "token_type": "access_token", "expires_in": TOKEN_LIFETIME.as_secs()}),
    )
}

fn bad_request(message: &str) -> Response {
    answer(StatusCode::BAD_REQUEST, json!({"message": message}))
}

async fn request_to_pay(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let subscription = match emulator.authorize(&headers) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    let Some(reference_id) =
        header(&headers, "x-reference-id").filter(|r| uuid::Uuid::parse_str(r).is_ok())
    else {
        return bad_request("X-Reference-Id must be a UUID");
    };
    let Some(Json(body)) = body else {
        return bad_request("The request body is not valid JSON");
    };
    let amount = body["amount"]
        .as_str()
        .filter(|a| a.parse::<f64>().is_ok_and(|v| v > 0.0) && !a.contains('e'));
    let currency = body["currency"]
        .as_str()
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
    let party_id = body["payer"]["partyId"]
        .as_str()
        .filter(|p| (8..=15).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let (Some(amount), Some(currency), Some(party_id)) = (amount, currency, party_id) else {
        return bad_request(
            "amount (a decimal string), currency and payer.partyId (MSISDN digits) are required",
        );
    };
    if body["payer"]["partyIdType"].as_str() != Some("MSISDN") {
        return bad_request("payer.partyIdType must be MSISDN");
    }
    let key = (subscription.clone(), reference_id.to_owned());
    let mut ledger = emulator.ledger.lock().expect("ledger");
    if ledger.payments.contains_key(&key) {
        return reason(
            StatusCode::CONFLICT,
            "RESOURCE_ALREADY_EXIST",
            "Duplicated reference id. Creation of resource failed.",
        );
    }
    if Outcome::from_phone(party_id) == Outcome::ErrorFirst
        && ledger.failed_once.insert(key.clone())
    {
        return reason(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_PROCESSING_ERROR",
            "An internal error occurred while processing.",
        );
    }
    let text = |field: &str| body[field].as_str().unwrap_or_default().to_owned();
    ledger.payments.insert(
        key,
        Payment {
            amount: amount.to_owned(),
            currency: currency.to_owned(),
            external_id: text("externalId"),
            party_id: party_id.to_owned(),
            payer_message: text("payerMessage"),
            payee_note: text("payeeNote"),
            status: "PENDING",
            reason: None,
            financial_transaction_id: None,
            callback: header(&headers, "x-callback-url")
                .filter(|url| emulator.may_call_back(url))
                .map(str::to_owned),
        },
    );
    drop(ledger);
    emulator.settle_later(subscription, reference_id.to_owned(), party_id);
    StatusCode::ACCEPTED.into_response()
}

async fn status(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(reference_id): Path<String>,
) -> Response {
    let subscription = match emulator.authorize(&headers) {
        Ok(key) => key,
        Err(response) => return *response,
    };
    let mut ledger = emulator.ledger.lock().expect("ledger");
    let key = (subscription, reference_id);
    if let Some(payment) = ledger.payments.get(&key) {
        if Outcome::from_phone(&payment.party_id) == Outcome::StatusErrors {
            let errors = ledger
                .status_errors
                .get_or_insert_with(key.clone(), Default::default);
            if *errors < STATUS_ERRORS {
                *errors += 1;
                return reason(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_PROCESSING_ERROR",
                    "An internal error occurred while processing.",
                );
            }
        }
    }
    match ledger.payments.get(&key) {
        Some(payment) => answer(StatusCode::OK, result_json(payment)),
        None => reason(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "Requested resource was not found.",
        ),
    }
}

async fn account_holder_active(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path((id_type, id)): Path<(String, String)>,
) -> Response {
    if let Err(response) = emulator.authorize(&headers) {
        return *response;
    }
    if id_type != "msisdn" || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return bad_request("accountHolderIdType must be msisdn and accountHolderId its digits");
    }
    answer(StatusCode::OK, json!({"result": true}))
}
