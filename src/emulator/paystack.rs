//! A Paystack emulator, from Paystack's OpenAPI document and webhook guide: `Authorization: Bearer`
//! secret keys, `{status, message, data}` answers, integer minor-unit amounts, `duplicate_reference` on a
//! reused reference, and `charge.success` webhooks signed with the hex HMAC-SHA512 of the body
//! (`x-paystack-signature`). Any `sk_test_…` key of 8 or more characters after the prefix is an
//! integration of its own; anything else is Paystack's 401 "Invalid key".
//!
//! A paid checkout sends the customer to the transaction's `callback_url` with `trxref` and `reference`,
//! as Paystack does. A card paid with an email whose local part ends in `+once` leaves an authorization
//! that is not reusable (`reusable: false`, refused by `charge_authorization`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use serde_json::{json, Value};

use super::pages::{self, Checkout};
use super::{hmac_sha512_hex, Answer, EmulatorConfig, Outcome};

const CURRENCIES: [&str; 5] = ["GHS", "KES", "NGN", "ZAR", "USD"];

#[derive(Clone)]
struct Emulator {
    config: EmulatorConfig,
    /// Transaction ids start here: the process's start time in milliseconds × 1000, so ids never repeat
    /// across restarts (a restarted emulator's webhooks are not taken for duplicates of old ones).
    id_base: i64,
    state: Arc<Mutex<Ledger>>,
    client: reqwest::Client,
}

#[derive(Default)]
struct Ledger {
    next_id: i64,
    /// (secret, reference) → transaction
    transactions: super::Capped<(String, String), Tx>,
    /// (secret, email) → customer code
    customers: super::Capped<(String, String), Customer>,
    /// (secret, authorization code) → email it belongs to
    authorizations: super::Capped<(String, String), String>,
    /// (secret, reference) of `…04` requests that already failed once
    failed_once: HashSet<(String, String)>,
    /// (secret, reference) of transactions refunded (or being refunded)
    refunded: HashSet<(String, String)>,
    /// access code → (secret, reference, merchant name shown on the checkout)
    checkouts: super::Capped<String, (String, String, String)>,
    /// (secret, reference) → a direct-debit mandate request (see `mandates`)
    mandates: super::Capped<(String, String), mandates::Mandate>,
    /// access code → (secret, reference) of a mandate request's approval page
    mandate_pages: super::Capped<String, (String, String)>,
    /// (secret, authorization code) → charges made on it (for tests counting debits)
    charges: super::Capped<(String, String), u64>,
    /// dedicated account number → (secret, customer) it pays into
    dedicated: super::Capped<String, (String, Customer)>,
}

mod mandates;
mod refunds;
mod transfers;

/// Cards paid with such an email cannot be charged again.
fn reusable(email: &str) -> bool {
    !email
        .split('@')
        .next()
        .is_some_and(|local| local.ends_with("+once"))
}

#[derive(Clone)]
struct Tx {
    id: i64,
    reference: String,
    amount: i64,
    currency: String,
    email: String,
    channel: &'static str,
    status: &'static str,
    gateway_response: &'static str,
    paid_at: Option<String>,
    created_at: String,
    authorization_code: Option<String>,
    callback_url: Option<String>,
    /// A transfer into a dedicated account: the account and its customer.
    receiver: Option<(String, Customer)>,
}

#[derive(Clone)]
struct Customer {
    id: i64,
    code: String,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
}

pub fn router(config: EmulatorConfig) -> Router {
    let emulator = Emulator {
        config,
        id_base: chrono::Utc::now().timestamp_millis().saturating_mul(1000),
        state: Arc::default(),
        client: reqwest::Client::new(),
    };
    Router::new()
        .route("/transaction/initialize", post(initialize))
        .route("/transaction/verify/{reference}", get(verify))
        .route(
            "/transaction/charge_authorization",
            post(charge_authorization),
        )
        .route("/charge", post(charge))
        .route("/customer", post(create_customer))
        .route("/customer/{code}", get(fetch_customer))
        .route(
            "/customer/{id}/directdebit-mandate-authorizations",
            get(mandates::list_for_customer),
        )
        .route(
            "/customer/{id}/directdebit-activation-charge",
            axum::routing::put(mandates::retry_activation),
        )
        .route("/refund", post(refunds::create))
        .route("/dedicated_account", post(dedicated_account))
        .route(
            "/customer/authorization/initialize",
            post(mandates::initialize),
        )
        .route(
            "/customer/authorization/verify/{reference}",
            get(mandates::verify),
        )
        .route(
            "/customer/authorization/deactivate",
            post(mandates::deactivate),
        )
        .route("/authorize/{access_code}", get(mandates::page))
        .route("/authorize/{access_code}/{action}", post(mandates::act))
        .route("/_authorizations/{code}/{action}", post(mandates::operate))
        .route("/_charges/{code}", get(mandates::charges))
        .route("/_transfers", post(transfers::transfer))
        .route(
            "/bank/{account_number}",
            get(transfers::page).post(transfers::send),
        )
        .route("/checkout/{access_code}", get(checkout_page))
        .route("/checkout/{access_code}/{action}", post(checkout_action))
        .fallback(|| async {
            answer(
                StatusCode::NOT_FOUND,
                json!({"status": false, "message": "The requested resource was not found"}),
            )
        })
        .method_not_allowed_fallback(|| async {
            answer(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"status": false, "message": "Method not allowed"}),
            )
        })
        .with_state(emulator)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn invalid_key() -> Response {
    answer(
        StatusCode::UNAUTHORIZED,
        json!({"status": false, "message": "Invalid key"}),
    )
}

fn validation(message: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"status": false, "message": message, "meta": {"nextStep": "Check the request and try again"},
               "type": "validation_error", "code": "invalid_params"}),
    )
}

/// A request's body as Paystack reads it, once the key has been checked: JSON whatever the content type
/// says (Paystack's Node SDK sends none, and chunked), or form fields
/// (`application/x-www-form-urlencoded`, which Paystack's OpenAPI allows for every call emulated here;
/// `amount` read as a number).
/// The caller's secret key (checked before anything else is read, as Paystack does) and its body.
fn authed_body(headers: &HeaderMap, raw: &[u8]) -> Result<(String, Value), Box<Response>> {
    let secret = secret(headers).ok_or_else(|| Box::new(invalid_key()))?;
    Ok((secret, body(headers, raw)?))
}

fn body(headers: &HeaderMap, raw: &[u8]) -> Result<Value, Box<Response>> {
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
            .map_err(|_| Box::new(validation("Invalid request body")))?;
        let fields = pairs
            .into_iter()
            .map(|(name, value)| {
                let value = match (name.as_str(), value.parse::<i64>()) {
                    ("amount", Ok(n)) => Value::from(n),
                    _ => Value::String(value),
                };
                (name, value)
            })
            .collect();
        return Ok(Value::Object(fields));
    }
    serde_json::from_slice(raw).map_err(|_| {
        Box::new(answer(
            StatusCode::BAD_REQUEST,
            json!({"status": false, "message": "Invalid JSON body"}),
        ))
    })
}

/// The integration's secret key from `Authorization: Bearer …`.
fn secret(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let key = value.strip_prefix("Bearer ")?.trim();
    (key.starts_with("sk_test_") && key.len() >= 16).then(|| key.to_owned())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn token(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..14)
            .unwrap_or_default()
    )
}

/// A card authorization as Paystack reports it (every field the spec requires).
fn authorization_json(tx: &Tx, code: &str) -> Value {
    json!({"authorization_code": code, "bin": "408408", "last4": "4081", "exp_month": "12", "exp_year": "2030",
           "channel": tx.channel, "card_type": "visa", "bank": "TEST BANK", "country_code": "NG", "brand": "visa",
           "reusable": reusable(&tx.email), "signature": "SIG_emulator", "account_name": null,
           "receiver_bank_account_number": null, "receiver_bank": null})
}

fn log_json() -> Value {
    json!({"start_time": 1, "time_spent": 1, "attempts": 1, "errors": 0, "success": true, "mobile": false,
           "input": [], "history": []})
}

fn customer_json(tx: &Tx) -> Value {
    let name = tx.email.split('@').next().unwrap_or_default();
    json!({"id": 1, "first_name": name, "last_name": "", "email": tx.email, "customer_code": "CUS_emulator",
           "phone": "", "metadata": {}, "risk_action": "default", "international_format_phone": ""})
}

/// `GET /transaction/verify/{reference}` data (`VerifyResponse`).
fn verify_json(tx: &Tx) -> Value {
    let mut data = transaction_json(tx);
    if let Some((account_number, customer)) = &tx.receiver {
        transfers::describe(&mut data, account_number, customer);
    }
    data
}

fn transaction_json(tx: &Tx) -> Value {
    json!({
        "id": tx.id, "domain": "test", "status": tx.status, "reference": tx.reference, "receipt_number": null,
        "amount": tx.amount, "message": null, "gateway_response": tx.gateway_response, "paid_at": tx.paid_at,
        "created_at": tx.created_at, "channel": tx.channel, "currency": tx.currency, "ip_address": "127.0.0.1",
        "metadata": "", "log": log_json(), "fees": null, "fees_split": null,
        "authorization": match &tx.authorization_code {
            Some(code) => authorization_json(tx, code),
            None => json!({}),
        },
        "customer": customer_json(tx),
        "plan": null, "split": {}, "order_id": null, "paidAt": tx.paid_at, "createdAt": tx.created_at,
        "requested_amount": tx.amount, "pos_transaction_data": null, "source": null, "fees_breakdown": null,
        "connect": null, "transaction_date": tx.created_at, "plan_object": {}, "subaccount": {},
    })
}

/// `POST /charge` data (`ChargeCreateResponse`), plus the `display_text` a pending charge shows.
fn charge_json(tx: &Tx) -> Value {
    let mut data = verify_json(tx);
    data["paid_at"] = json!(tx.paid_at.clone().unwrap_or_else(|| tx.created_at.clone()));
    data["paidAt"] = data["paid_at"].clone();
    data["metadata"] = json!({"custom_fields": []});
    data["fees"] = json!(0);
    data["authorization"] = authorization_json(
        tx,
        tx.authorization_code.as_deref().unwrap_or("AUTH_pending"),
    );
    data["display_text"] = json!("Please complete authorization process on your mobile phone");
    data
}

/// `POST /transaction/charge_authorization` data (`ChargeAuthorizationResponse`).
fn charge_authorization_json(tx: &Tx) -> Value {
    json!({
        "amount": tx.amount, "currency": tx.currency, "transaction_date": tx.created_at, "status": tx.status,
        "reference": tx.reference, "domain": "test", "metadata": "", "gateway_response": tx.gateway_response,
        "message": null, "channel": tx.channel, "ip_address": null, "log": null, "fees": null,
        "authorization": authorization_json(tx, tx.authorization_code.as_deref().unwrap_or_default()),
        "customer": customer_json(tx), "plan": null, "id": tx.id,
    })
}

/// Checks the fields every money-moving call shares; returns (email, amount, currency, reference).
fn money_fields(body: &Value) -> Result<(String, i64, String, Option<String>), Box<Response>> {
    let email = body["email"]
        .as_str()
        .filter(|e| e.contains('@') && e.contains('.'));
    let Some(email) = email else {
        return Err(Box::new(validation("Invalid Email Address Passed")));
    };
    let Some(amount) = body["amount"].as_i64().filter(|a| *a > 0) else {
        return Err(Box::new(validation("Invalid Amount Sent")));
    };
    let currency = body["currency"].as_str().unwrap_or("NGN");
    if !CURRENCIES.contains(&currency) {
        return Err(Box::new(validation("Currency not supported by merchant")));
    }
    let reference = match &body["reference"] {
        Value::Null => None,
        Value::String(r)
            if !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.=".contains(&b)) =>
        {
            Some(r.clone())
        }
        _ => return Err(Box::new(validation("Invalid transaction reference"))),
    };
    Ok((email.to_owned(), amount, currency.to_owned(), reference))
}

fn duplicate_reference() -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"status": false, "message": "Duplicate Transaction Reference",
               "meta": {"nextStep": "Try and create the Transaction or Charge with a new reference"},
               "type": "validation_error", "code": "duplicate_reference", "errorCodeMappingNotFound": false}),
    )
}

impl Emulator {
    /// The integration's customer with this email, made on first sight (as Paystack makes one on a
    /// first payment or mandate).
    fn customer(
        &self,
        secret: &str,
        email: &str,
        first: &str,
        last: &str,
        phone: &str,
    ) -> Customer {
        let mut ledger = self.state.lock().expect("ledger");
        ledger.next_id += 1;
        let id = ledger.next_id;
        ledger
            .customers
            .get_or_insert_with((secret.to_owned(), email.to_lowercase()), || Customer {
                id,
                code: token("CUS_"),
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                email: email.to_owned(),
                phone: phone.to_owned(),
            })
            .clone()
    }

    /// `…04` amounts: the first request for a reference answers 500.
    fn fails_first(&self, secret: &str, reference: &str, amount: i64) -> bool {
        Outcome::from_minor(amount) == Outcome::ErrorFirst
            && self
                .state
                .lock()
                .expect("ledger")
                .failed_once
                .insert((secret.to_owned(), reference.to_owned()))
    }

    /// Records a new pending transaction; `Err` when the reference is taken.
    fn open(&self, secret: &str, mut tx: Tx) -> Result<Tx, Box<Response>> {
        let mut ledger = self.state.lock().expect("ledger");
        let key = (secret.to_owned(), tx.reference.clone());
        if ledger.transactions.contains_key(&key) {
            return Err(Box::new(duplicate_reference()));
        }
        ledger.next_id += 1;
        tx.id = self.id_base + ledger.next_id;
        ledger.transactions.insert(key, tx.clone());
        Ok(tx)
    }

    /// After the configured delay, the customer "pays" (or not, by the magic amount) and Paystack's
    /// `charge.success` webhook goes out, signed.
    /// `amount`'s magic ending settles it by itself; with no magic ending it does so only when
    /// `autosettle` is on (else the customer acts on the checkout page).
    fn settle_later(&self, secret: String, reference: String, amount: i64) {
        if !self.config.autosettle && Outcome::from_minor(amount) == Outcome::Succeed {
            return;
        }
        let emulator = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(emulator.config.settle_delay).await;
            emulator.settle_and_notify(&secret, &reference, None).await;
        });
    }

    /// Settles the transaction (by `answer`, or by its magic amount) and sends Paystack's signed
    /// `charge.success` webhook when it is paid.
    async fn settle_and_notify(&self, secret: &str, reference: &str, answer: Option<Answer>) {
        let Some(tx) = self.settle(secret, reference, answer) else {
            return;
        };
        if tx.status == "success"
            && (answer.is_some() || Outcome::from_minor(tx.amount) != Outcome::SucceedSilently)
        {
            self.send_webhook(secret, &tx).await;
        }
    }

    fn settle(&self, secret: &str, reference: &str, answer: Option<Answer>) -> Option<Tx> {
        let mut ledger = self.state.lock().expect("ledger");
        let tx = ledger
            .transactions
            .get_mut(&(secret.to_owned(), reference.to_owned()))?;
        let outcome = match answer {
            None => Outcome::from_minor(tx.amount),
            Some(Answer::Pay) => Outcome::Succeed,
            Some(Answer::Decline) => Outcome::Fail,
            Some(Answer::Abandon) => {
                tx.status = "abandoned";
                tx.gateway_response = "The transaction was not completed";
                return Some(tx.clone());
            }
        };
        match outcome {
            Outcome::StayPending => return None,
            Outcome::Fail => {
                tx.status = "failed";
                tx.gateway_response = "Declined";
            }
            _ => {
                tx.status = "success";
                tx.gateway_response = "Successful";
                tx.paid_at = Some(now());
                tx.authorization_code.get_or_insert_with(|| token("AUTH_"));
            }
        }
        let tx = tx.clone();
        if let (Some(code), true) = (&tx.authorization_code, reusable(&tx.email)) {
            ledger
                .authorizations
                .insert((secret.to_owned(), code.clone()), tx.email.clone());
        }
        Some(tx)
    }

    async fn send_webhook(&self, secret: &str, tx: &Tx) {
        let body = json!({"event": "charge.success", "data": verify_json(tx)}).to_string();
        self.post_signed(secret, body).await;
    }

    /// Posts an event to the webhook URL, signed as Paystack signs (hex HMAC-SHA512 of the body).
    async fn post_signed(&self, secret: &str, body: String) {
        let url = format!(
            "{}/paystack",
            self.config.webhook_base.trim_end_matches('/')
        );
        let signature = hmac_sha512_hex(secret, body.as_bytes());
        let sent = self
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-paystack-signature", signature)
            .body(body)
            .send()
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, %url, "emulated Paystack webhook not delivered");
        }
    }
}

async fn initialize(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let (email, amount, currency, reference) = match money_fields(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let reference = reference.unwrap_or_else(|| token(""));
    if emulator.fails_first(&secret, &reference, amount) {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"status": false, "message": "An error occurred"}),
        );
    }
    let tx = Tx {
        id: 0,
        reference: reference.clone(),
        amount,
        currency,
        email,
        channel: "card",
        status: "ongoing",
        gateway_response: "The transaction was not completed",
        paid_at: None,
        created_at: now(),
        authorization_code: None,
        callback_url: body["callback_url"].as_str().map(str::to_owned),
        receiver: None,
    };
    if let Err(response) = emulator.open(&secret, tx) {
        return *response;
    }
    emulator.settle_later(secret.clone(), reference.clone(), amount);
    let access_code = token("");
    // Paystack shows `metadata.custom_fields` on its checkout; the merchant's name travels there.
    let merchant = body["metadata"]["custom_fields"]
        .as_array()
        .and_then(|fields| {
            fields
                .iter()
                .find(|f| f["variable_name"] == "merchant")
                .and_then(|f| f["value"].as_str())
        })
        .unwrap_or("Test business")
        .to_owned();
    emulator
        .state
        .lock()
        .expect("ledger")
        .checkouts
        .insert(access_code.clone(), (secret, reference.clone(), merchant));
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Authorization URL created", "data": {
            "authorization_url": format!("{}/_emulator/paystack/checkout/{access_code}", emulator.config.public_base),
            "access_code": access_code, "reference": reference}}),
    )
}

async fn verify(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Response {
    let Some(secret) = secret(&headers) else {
        return invalid_key();
    };
    let ledger = emulator.state.lock().expect("ledger");
    match ledger.transactions.get(&(secret, reference)) {
        Some(tx) => answer(
            StatusCode::OK,
            json!({"status": true, "message": "Verification successful", "data": verify_json(tx)}),
        ),
        None => answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "Transaction reference not found"}),
        ),
    }
}

async fn charge(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let (email, amount, currency, reference) = match money_fields(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let channel = if body["mobile_money"].is_object() {
        if body["mobile_money"]["phone"].as_str().is_none()
            || body["mobile_money"]["provider"].as_str().is_none()
        {
            return validation("mobile_money.phone and mobile_money.provider are required");
        }
        "mobile_money"
    } else if body["bank"].is_object() {
        let account = body["bank"]["account_number"].as_str().unwrap_or_default();
        if body["bank"]["code"].as_str().is_none() || account.len() != 10 {
            return validation("bank.code and a 10-digit bank.account_number are required");
        }
        "bank"
    } else {
        return validation("Please provide a payment channel");
    };
    let reference = reference.unwrap_or_else(|| token(""));
    if emulator.fails_first(&secret, &reference, amount) {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"status": false, "message": "An error occurred"}),
        );
    }
    let tx = Tx {
        id: 0,
        reference: reference.clone(),
        amount,
        currency,
        email,
        channel,
        status: "pending",
        gateway_response: "Awaiting customer approval",
        paid_at: None,
        created_at: now(),
        authorization_code: None,
        callback_url: None,
        receiver: None,
    };
    let tx = match emulator.open(&secret, tx) {
        Ok(tx) => tx,
        Err(response) => return *response,
    };
    emulator.settle_later(secret, reference, amount);
    let data = charge_json(&tx);
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Charge attempted", "data": data}),
    )
}

async fn charge_authorization(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let (email, amount, currency, reference) = match money_fields(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    if !matches!(body["metadata"], Value::Null | Value::String(_)) {
        return validation("metadata must be a stringified JSON object");
    }
    let Some(code) = body["authorization_code"].as_str() else {
        return validation("authorization_code is required");
    };
    let owner = emulator
        .state
        .lock()
        .expect("ledger")
        .authorizations
        .get(&(secret.clone(), code.to_owned()))
        .cloned();
    if owner.as_deref() != Some(email.as_str()) {
        return validation("Invalid or inactive authorization code for this customer");
    }
    let reference = reference.unwrap_or_else(|| token(""));
    if emulator.fails_first(&secret, &reference, amount) {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"status": false, "message": "An error occurred"}),
        );
    }
    let tx = Tx {
        id: 0,
        reference: reference.clone(),
        amount,
        currency,
        email,
        channel: "card",
        status: "ongoing",
        gateway_response: "",
        paid_at: None,
        created_at: now(),
        authorization_code: Some(code.to_owned()),
        callback_url: None,
        receiver: None,
    };
    if let Err(response) = emulator.open(&secret, tx) {
        return *response;
    }
    // Counted once opened: a refused or duplicate request took nothing.
    *emulator
        .state
        .lock()
        .expect("ledger")
        .charges
        .get_or_insert_with((secret.clone(), code.to_owned()), || 0) += 1;
    // A saved card is charged at once (no customer step); pending amounts stay pending.
    let settled = emulator.settle(&secret, &reference, None).or_else(|| {
        let ledger = emulator.state.lock().expect("ledger");
        ledger
            .transactions
            .get(&(secret.clone(), reference.clone()))
            .cloned()
    });
    let Some(tx) = settled else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "Transaction not found"}),
        );
    };
    if tx.status == "success" && Outcome::from_minor(amount) != Outcome::SucceedSilently {
        // Paystack's webhook follows its answer (after the settle delay, like every emulated
        // settlement), rather than racing it.
        let (emulator, secret, tx) = (emulator.clone(), secret.clone(), tx.clone());
        tokio::spawn(async move {
            tokio::time::sleep(emulator.config.settle_delay).await;
            emulator.send_webhook(&secret, &tx).await
        });
    }
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Charge attempted", "data": charge_authorization_json(&tx)}),
    )
}

async fn create_customer(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let Some(email) = body["email"].as_str().filter(|e| e.contains('@')) else {
        return validation("Invalid Email Address Passed");
    };
    let customer = emulator.customer(
        &secret,
        email,
        body["first_name"].as_str().unwrap_or_default(),
        body["last_name"].as_str().unwrap_or_default(),
        body["phone"].as_str().unwrap_or_default(),
    );
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Customer created", "data": {
            "transactions": [], "subscriptions": [], "authorizations": [], "email": customer.email,
            "first_name": customer.first_name, "last_name": customer.last_name, "phone": customer.phone,
            "integration": 100032, "domain": "test", "metadata": {}, "customer_code": customer.code,
            "risk_action": "default", "id": customer.id, "createdAt": now(), "updatedAt": now(), "identified": false,
            "identifications": null}}),
    )
}

/// `GET /customer/{code}` (`CustomerFetchResponse`).
async fn fetch_customer(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let Some(secret) = secret(&headers) else {
        return invalid_key();
    };
    let found = emulator
        .state
        .lock()
        .expect("ledger")
        .customers
        .iter()
        .find(|((s, _), c)| *s == secret && c.code == code)
        .map(|(_, c)| c.clone());
    let Some(customer) = found else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "Customer not found"}),
        );
    };
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Customer retrieved", "data": {
            "transactions": [], "subscriptions": [], "authorizations": [], "first_name": customer.first_name,
            "last_name": customer.last_name, "email": customer.email, "phone": customer.phone,
            "metadata": {}, "domain": "test", "customer_code": customer.code, "risk_action": "default",
            "id": customer.id, "integration": 100032, "createdAt": now(), "updatedAt": now(),
            "created_at": now(), "updated_at": now(), "total_transactions": 0,
            "total_transaction_value": [], "dedicated_account": null, "dedicated_accounts": [],
            "identified": false, "identifications": null}}),
    )
}

async fn dedicated_account(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let Some(code) = body["customer"].as_str() else {
        return validation("customer is required");
    };
    let ledger = emulator.state.lock().expect("ledger");
    let Some(customer) = ledger
        .customers
        .iter()
        .find(|((s, _), c)| *s == secret && c.code == code)
        .map(|(_, c)| c.clone())
    else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "Customer not found"}),
        );
    };
    // A NUBAN at the emulated bank (code 999): nine digits from the customer code, then the check digit.
    let hash = code
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let serial = format!("{:09}", hash % 1_000_000_000);
    let account_number = crate::domain::nuban::account_number("999", &serial).unwrap_or_default();
    let bank = body["preferred_bank"].as_str().unwrap_or("test-bank");
    drop(ledger);
    emulator
        .state
        .lock()
        .expect("ledger")
        .dedicated
        .insert(account_number.clone(), (secret.clone(), customer.clone()));
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "NUBAN successfully created", "data": {
            "bank": {"name": "Test Bank", "id": 999, "slug": bank},
            "account_name": format!("{} {}", customer.first_name, customer.last_name).trim(),
            "account_number": account_number, "assigned": true, "currency": "NGN", "metadata": null, "active": true,
            "id": 1, "created_at": now(), "updated_at": now(),
            "assignment": {"integration": 100032, "assignee_id": 1, "assignee_type": "Customer", "expired": false,
                           "account_type": "PAY-WITH-TRANSFER-RECURRING", "assigned_at": now(), "expired_at": null},
            "customer": {"id": 1, "first_name": customer.first_name, "last_name": customer.last_name,
                         "email": customer.email, "customer_code": customer.code, "phone": customer.phone,
                         "metadata": {}, "risk_action": "default", "international_format_phone": customer.phone}}}),
    )
}

/// The hosted checkout an `authorization_url` opens: who is asking, how much, for what, and the
/// customer's three choices.
async fn checkout_page(
    State(emulator): State<Emulator>,
    Path(access_code): Path<String>,
) -> Response {
    let ledger = emulator.state.lock().expect("ledger");
    let Some((secret, reference, merchant)) = ledger.checkouts.get(&access_code) else {
        return pages::not_found("This checkout link is not valid.");
    };
    let Some(tx) = ledger
        .transactions
        .get(&(secret.clone(), reference.clone()))
    else {
        return pages::not_found("This checkout link is not valid.");
    };
    let amount = match crate::domain::currency::Currency::parse(&tx.currency) {
        Some(currency) => format!(
            "{} {}",
            tx.currency,
            crate::domain::money::Money::from_minor(tx.amount, currency).major_string()
        ),
        None => format!("{} {}", tx.currency, tx.amount),
    };
    let open = matches!(tx.status, "ongoing" | "abandoned");
    let outcome = match tx.status {
        "success" => "Payment successful. You can close this page.",
        "failed" => "Payment declined.",
        _ => "",
    };
    pages::html(
        StatusCode::OK,
        &Checkout {
            provider: "Paystack",
            merchant,
            amount,
            reference,
            email: &tx.email,
            status: tx.status,
            open,
            outcome,
            action_base: format!("/_emulator/paystack/checkout/{access_code}"),
        },
    )
}

/// The customer pressed Pay, Decline or Abandon: the transaction settles as Paystack would settle it
/// (a payment fires the signed `charge.success` webhook; a decline or an abandoned checkout sends none).
async fn checkout_action(
    State(emulator): State<Emulator>,
    Path((access_code, action)): Path<(String, String)>,
) -> Response {
    let answer = match action.as_str() {
        "pay" => Answer::Pay,
        "decline" => Answer::Decline,
        "abandon" => Answer::Abandon,
        _ => return pages::not_found("No such action."),
    };
    let found = emulator
        .state
        .lock()
        .expect("ledger")
        .checkouts
        .get(&access_code)
        .cloned();
    let Some((secret, reference, _)) = found else {
        return pages::not_found("This checkout link is not valid.");
    };
    let open = emulator
        .state
        .lock()
        .expect("ledger")
        .transactions
        .get(&(secret.clone(), reference.clone()))
        .is_some_and(|tx| matches!(tx.status, "ongoing" | "abandoned"));
    if open {
        emulator
            .settle_and_notify(&secret, &reference, Some(answer))
            .await;
    }
    let paid_callback = emulator
        .state
        .lock()
        .expect("ledger")
        .transactions
        .get(&(secret, reference.clone()))
        .filter(|tx| tx.status == "success")
        .and_then(|tx| tx.callback_url.clone());
    match paid_callback {
        Some(url) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            pages::back_to(&format!(
                "{url}{separator}trxref={reference}&reference={reference}"
            ))
        }
        None => pages::back_to(&format!("/_emulator/paystack/checkout/{access_code}")),
    }
}
