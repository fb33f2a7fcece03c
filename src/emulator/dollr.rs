//! A Dollr emulator, from Dollr's integration guide and conventions: bearer tokens that live 60
//! minutes (`expires_in` in minutes), FastAPI-style errors (`{"detail": …}`, 422 with `loc`/`msg`/`type`),
//! parties → counterparties → invoices (IDLE → ACTIVE on publish, items locked after) → checkout
//! sessions → payment accounts → executions under the caller's UUID `reference_id` (PROCESSING, then
//! COMPLETED or FAILED; a reused id for another payment is a 422), status by reference, receipts once
//! the invoice is PAID, and the payout flow. No webhooks: Dollr has none. Outcomes come from the last
//! four digits of the payment account's number (see README).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::pages::{self, Prompt};
use super::{Answer, EmulatorConfig, Outcome};

#[derive(Clone)]
struct Emulator {
    config: EmulatorConfig,
    ledger: Arc<Mutex<Ledger>>,
}

#[derive(Default)]
struct Ledger {
    next_id: u64,
    tokens: super::Capped<String, String>,
    /// invoice id → (status, currency, total in major units as text, items)
    invoices: super::Capped<String, Invoice>,
    /// session id → invoice id (collections) or amount (payouts)
    sessions: super::Capped<String, Value>,
    /// payment account id → account number
    accounts: super::Capped<String, String>,
    /// (kind, reference id) → execution
    executions: super::Capped<(String, String), Execution>,
}

#[derive(Clone)]
struct Invoice {
    status: &'static str,
    currency: String,
    items: Vec<Value>,
}

#[derive(Clone)]
struct Execution {
    /// The payer's wallet number (what the phone prompt shows).
    account_number: String,
    session_id: String,
    invoice_id: Option<String>,
    status: &'static str,
    gateway_message: Option<&'static str>,
    amount: Value,
}

pub fn router(config: EmulatorConfig) -> Router {
    let emulator = Emulator {
        config,
        ledger: Arc::default(),
    };
    Router::new()
        .route("/v1/jwt/client/obtain/token", post(token))
        .route("/v1/parties/create", post(party))
        .route("/v1/counterparties/create", post(counterparty))
        .route("/v1/invoices/create", post(invoice))
        .route("/v1/invoices/{id}/items/add", post(add_item))
        .route("/v1/invoices/publish/{id}", put(publish))
        .route("/v1/invoices/receipt/{id}", get(receipt))
        .route("/v1/predictions/mmo-provider-info", get(mmo_info))
        .route("/v1/sessions/checkout", post(checkout))
        .route("/v1/sessions/payout", post(payout_session))
        .route("/v1/payment-accounts/create", post(payment_account))
        .route("/v1/executions/collection", post(execute_collection))
        .route("/v1/executions/payout", post(execute_payout))
        .route("/v1/status/{kind}/{reference_id}", get(status))
        .route("/prompts", get(prompts_page))
        .route("/prompts/{reference}/{action}", post(prompt_action))
        .with_state(emulator)
}

fn detail(status: StatusCode, detail: Value) -> Response {
    (status, Json(json!({"detail": detail}))).into_response()
}

/// FastAPI's 422 for a missing or invalid body field.
fn invalid(field: &str, msg: &str) -> Response {
    detail(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!([{"loc": ["body", field], "msg": msg, "type": "value_error"}]),
    )
}

impl Emulator {
    fn authorized(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let known =
            token.is_some_and(|t| self.ledger.lock().expect("ledger").tokens.contains_key(t));
        if known {
            Ok(())
        } else {
            Err(Box::new(detail(
                StatusCode::UNAUTHORIZED,
                json!("Could not validate credentials"),
            )))
        }
    }

    fn next_id(&self) -> u64 {
        let mut ledger = self.ledger.lock().expect("ledger");
        ledger.next_id += 1;
        ledger.next_id
    }

    /// The wallet's magic number settles a collection by itself; with no magic ending it does so only
    /// when `autosettle` is on (else the payer answers on the prompts page). Payouts always settle.
    fn settle_later(&self, kind: &'static str, reference: String, account_number: String) {
        if kind == "collection"
            && !self.config.autosettle
            && Outcome::from_phone(&account_number) == Outcome::Succeed
        {
            return;
        }
        let emulator = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(emulator.config.settle_delay).await;
            emulator.settle(kind, reference, None);
        });
    }

    /// Settles a processing execution: by the payer's `answer`, or by the wallet's magic number.
    fn settle(&self, kind: &str, reference: String, answer: Option<Answer>) {
        let mut ledger = self.ledger.lock().expect("ledger");
        let Some(execution) = ledger.executions.get_mut(&(kind.to_owned(), reference)) else {
            return;
        };
        if execution.status != "PROCESSING" {
            return;
        }
        let outcome = match answer {
            None => Outcome::from_phone(&execution.account_number),
            Some(Answer::Pay) => Outcome::Succeed,
            Some(Answer::Decline | Answer::Abandon) => Outcome::Fail,
        };
        let paid = match outcome {
            Outcome::StayPending => return,
            Outcome::Fail => {
                execution.status = "FAILED";
                execution.gateway_message = Some("Payer declined the request");
                false
            }
            _ => {
                execution.status = "COMPLETED";
                true
            }
        };
        let invoice_id = execution.invoice_id.clone();
        if let Some(invoice) = invoice_id.and_then(|id| ledger.invoices.get_mut(&id)) {
            invoice.status = if paid { "PAID" } else { "ACTIVE" };
        }
    }
}

/// `GET /_emulator/dollr/prompts`: the payers' phones — every collection still processing, to approve
/// or reject.
async fn prompts_page(State(emulator): State<Emulator>) -> Response {
    let ledger = emulator.ledger.lock().expect("ledger");
    let prompts: Vec<Prompt> = ledger
        .executions
        .iter()
        .filter(|((kind, _), e)| kind == "collection" && e.status == "PROCESSING")
        .map(|((_, reference), e)| Prompt {
            id: reference.clone(),
            payer: e.account_number.clone(),
            amount: match &e.amount {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            },
            message: format!("Checkout {}", e.session_id),
        })
        .collect();
    drop(ledger);
    pages::prompts("Dollr", "dollr", prompts)
}

/// The payer approved or rejected a collection on the phone.
async fn prompt_action(
    State(emulator): State<Emulator>,
    Path((reference, action)): Path<(String, String)>,
) -> Response {
    let Some(answer) = pages::prompt_answer(&action) else {
        return pages::not_found("No such action.");
    };
    emulator.settle("collection", reference, Some(answer));
    pages::back_to("/_emulator/dollr/prompts")
}

macro_rules! authorize {
    ($emulator:expr, $headers:expr) => {
        if let Err(response) = $emulator.authorized(&$headers) {
            return *response;
        }
    };
}

fn text<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body[field].as_str().filter(|s| !s.trim().is_empty())
}

async fn token(State(emulator): State<Emulator>, Json(body): Json<Value>) -> Response {
    let ok = text(&body, "client_id").is_some()
        && text(&body, "client_secret").is_some_and(|s| s.len() >= 8);
    if !ok {
        return detail(
            StatusCode::UNAUTHORIZED,
            json!("Could not validate credentials"),
        );
    }
    let token = format!("dollr.{}", uuid::Uuid::new_v4().simple());
    emulator
        .ledger
        .lock()
        .expect("ledger")
        .tokens
        .insert(token.clone(), body["client_id"].to_string());
    Json(json!({"access_token": token, "expires_in": 60})).into_response()
}

async fn party(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    if text(&body, "fullname").is_none() {
        return invalid("fullname", "field required");
    }
    if !text(&body, "phone").is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.len() >= 8)
    {
        return invalid("phone", "phone must be E.164 digits without '+'");
    }
    if text(&body, "country_code").is_none_or(|c| c.len() != 2) {
        return invalid("country_code", "field required");
    }
    (
        StatusCode::CREATED,
        Json(
            json!({"id": emulator.next_id(), "fullname": body["fullname"], "phone": body["phone"]}),
        ),
    )
        .into_response()
}

async fn counterparty(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    if body["relationship_type"] != "CUSTOMER" && body["relationship_type"] != "SUPPLIER" {
        return invalid(
            "relationship_type",
            "value is not a valid enumeration member",
        );
    }
    if body["party_id"].is_null() {
        return invalid("party_id", "field required");
    }
    (StatusCode::CREATED, Json(json!({"id": emulator.next_id(), "party_id": body["party_id"], "relationship_type": body["relationship_type"]})))
        .into_response()
}

async fn invoice(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    let Some(currency) = text(&body, "currency").filter(|c| c.len() == 3) else {
        return invalid("currency", "field required");
    };
    if !matches!(body["fee_bearer"].as_str(), Some("PAYER" | "PAYEE")) {
        return invalid("fee_bearer", "value is not a valid enumeration member");
    }
    if body["counterparty_id"].is_null() {
        return invalid("counterparty_id", "field required");
    }
    let id = emulator.next_id().to_string();
    emulator.ledger.lock().expect("ledger").invoices.insert(
        id.clone(),
        Invoice {
            status: "IDLE",
            currency: currency.to_owned(),
            items: Vec::new(),
        },
    );
    (StatusCode::CREATED, Json(json!({"id": id.parse::<u64>().unwrap_or_default(), "status": "IDLE", "currency": currency}))).into_response()
}

async fn add_item(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    let positive = |v: &Value| v.as_f64().is_some_and(|a| a > 0.0);
    if text(&body, "name").is_none()
        || !positive(&body["amount"])
        || body["qty"].as_u64().is_none_or(|q| q == 0)
    {
        return invalid(
            "amount",
            "name, a positive qty and an amount of at least 0.01 are required",
        );
    }
    let mut ledger = emulator.ledger.lock().expect("ledger");
    let Some(invoice) = ledger.invoices.get_mut(&id) else {
        return detail(StatusCode::NOT_FOUND, json!("Invoice not found"));
    };
    if invoice.status != "IDLE" {
        return detail(
            StatusCode::BAD_REQUEST,
            json!("Invoice is locked: only IDLE invoices can be edited"),
        );
    }
    if body["currency"].as_str() != Some(invoice.currency.as_str()) {
        return invalid("currency", "must match the invoice currency");
    }
    invoice
        .items
        .push(json!({"name": body["name"], "qty": body["qty"], "amount": body["amount"]}));
    (
        StatusCode::CREATED,
        Json(json!({"id": invoice.items.len(), "invoice_id": id})),
    )
        .into_response()
}

async fn publish(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    authorize!(emulator, headers);
    let mut ledger = emulator.ledger.lock().expect("ledger");
    let Some(invoice) = ledger.invoices.get_mut(&id) else {
        return detail(StatusCode::NOT_FOUND, json!("Invoice not found"));
    };
    if invoice.items.is_empty() {
        return detail(
            StatusCode::BAD_REQUEST,
            json!("An invoice needs at least one item"),
        );
    }
    if invoice.status == "IDLE" {
        invoice.status = "ACTIVE";
    }
    Json(json!({"id": id, "status": invoice.status})).into_response()
}

async fn receipt(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    authorize!(emulator, headers);
    let ledger = emulator.ledger.lock().expect("ledger");
    match ledger.invoices.get(&id) {
        Some(invoice) if invoice.status == "PAID" => Json(json!({
            "invoice_id": id, "status": "PAID", "currency": invoice.currency, "items": invoice.items,
            "fees": 0, "fx_rate": 1, "provider": "EMULATOR"})).into_response(),
        Some(_) => detail(StatusCode::BAD_REQUEST, json!("The receipt is available once the invoice is PAID")),
        None => detail(StatusCode::NOT_FOUND, json!("Invoice not found")),
    }
}

async fn mmo_info(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    authorize!(emulator, headers);
    let Some(phone) = query
        .get("phone")
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.len() >= 8)
    else {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"loc": ["query", "phone"], "msg": "field required", "type": "value_error.missing"}]),
        );
    };
    let provider = if phone.starts_with("2567") && phone[3..].starts_with("75") {
        "AIRTEL"
    } else {
        "MTN"
    };
    Json(json!({"payment_method": "MOBILE_MONEY", "gateway_provider": provider})).into_response()
}

async fn checkout(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    let kind = body["source_type"]
        .as_str()
        .or(body["source_kind"].as_str());
    if kind != Some("INVOICE") {
        return invalid("source_type", "value is not a valid enumeration member");
    }
    let source = body["source_id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| body["source_id"].as_u64().map(|n| n.to_string()));
    let Some(source) = source else {
        return invalid("source_id", "field required");
    };
    let active = emulator
        .ledger
        .lock()
        .expect("ledger")
        .invoices
        .get(&source)
        .map(|i| i.status);
    match active {
        Some("ACTIVE") => {}
        Some(status) => {
            return detail(
                StatusCode::BAD_REQUEST,
                json!(format!("Invoice is {status}; publish it first")),
            )
        }
        None => return detail(StatusCode::NOT_FOUND, json!("Invoice not found")),
    }
    let session = format!("sess_{}", emulator.next_id());
    emulator
        .ledger
        .lock()
        .expect("ledger")
        .sessions
        .insert(session.clone(), json!({"invoice_id": source}));
    (
        StatusCode::CREATED,
        Json(json!({"id": session, "source_id": source, "source_type": "INVOICE"})),
    )
        .into_response()
}

async fn payment_account(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    if !matches!(
        query.get("operation_type").map(String::as_str),
        Some("COLLECTION" | "PAYOUT")
    ) {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"loc": ["query", "operation_type"], "msg": "field required", "type": "value_error.missing"}]),
        );
    }
    for field in [
        "account_name",
        "provider",
        "method",
        "country_code",
        "insensitive_account_number",
    ] {
        if text(&body, field).is_none() {
            return invalid(field, "field required");
        }
    }
    let id = format!("pa_{}", emulator.next_id());
    let number = text(&body, "insensitive_account_number")
        .unwrap_or_default()
        .to_owned();
    emulator
        .ledger
        .lock()
        .expect("ledger")
        .accounts
        .insert(id.clone(), number);
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

fn execution_json(reference: &str, execution: &Execution) -> Value {
    json!({"status": execution.status, "reference_id": reference, "payer_amount": execution.amount,
           "payee_amount": execution.amount, "requires_action": false, "client_secret": null,
           "gateway_message": execution.gateway_message})
}

/// Records an execution (or answers the one already under this reference) and settles it later.
fn execute(
    emulator: &Emulator,
    kind: &'static str,
    body: &Value,
    invoice_id: Option<String>,
    amount: Value,
) -> Response {
    let Some(reference) = text(body, "reference_id").filter(|r| uuid::Uuid::parse_str(r).is_ok())
    else {
        return invalid("reference_id", "value is not a valid uuid");
    };
    let session = text(body, "session_id").unwrap_or_default().to_owned();
    let account_field = if kind == "collection" {
        "payment_account_id"
    } else {
        "payout_account_id"
    };
    let key = (kind.to_owned(), reference.to_owned());
    let mut ledger = emulator.ledger.lock().expect("ledger");
    let Some(number) = text(body, account_field)
        .and_then(|a| ledger.accounts.get(a))
        .cloned()
    else {
        return invalid(account_field, "unknown payment account");
    };
    if let Some(existing) = ledger.executions.get(&key) {
        if existing.session_id != session {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!("Duplicate reference_id: it belongs to another payment"),
            );
        }
        return Json(execution_json(reference, existing)).into_response();
    }
    if let Some(invoice) = invoice_id
        .as_ref()
        .and_then(|id| ledger.invoices.get_mut(id))
    {
        invoice.status = "PROCESSING";
    }
    let execution = Execution {
        account_number: number.clone(),
        session_id: session,
        invoice_id,
        status: "PROCESSING",
        gateway_message: None,
        amount,
    };
    let answer = execution_json(reference, &execution);
    ledger.executions.insert(key, execution);
    drop(ledger);
    emulator.settle_later(kind, reference.to_owned(), number);
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn execute_collection(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    let session = text(&body, "session_id").and_then(|s| {
        emulator
            .ledger
            .lock()
            .expect("ledger")
            .sessions
            .get(s)
            .cloned()
    });
    let Some(session) = session else {
        return invalid("session_id", "unknown checkout session");
    };
    let invoice_id = session["invoice_id"].as_str().map(str::to_owned);
    let total = invoice_id.as_ref().and_then(|id| {
        let ledger = emulator.ledger.lock().expect("ledger");
        ledger.invoices.get(id).map(|i| {
            i.items
                .iter()
                .map(|it| it["amount"].as_f64().unwrap_or(0.0) * it["qty"].as_f64().unwrap_or(0.0))
                .sum::<f64>()
        })
    });
    execute(
        &emulator,
        "collection",
        &body,
        invoice_id,
        json!(total.unwrap_or(0.0)),
    )
}

async fn payout_session(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    if !body["amount"].as_f64().is_some_and(|a| a >= 0.01) || text(&body, "currency").is_none() {
        return invalid(
            "amount",
            "amount of at least 0.01 and a currency are required",
        );
    }
    let session = format!("psess_{}", emulator.next_id());
    emulator
        .ledger
        .lock()
        .expect("ledger")
        .sessions
        .insert(session.clone(), json!({"amount": body["amount"]}));
    let expires = (chrono::Utc::now() + chrono::TimeDelta::minutes(15))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (
        StatusCode::CREATED,
        Json(json!({"id": session, "expires_at": expires, "wallet_id": 1})),
    )
        .into_response()
}

async fn execute_payout(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    authorize!(emulator, headers);
    if body["passcode"]["token"]["code"].as_str().is_none() {
        return invalid("passcode", "passcode.token.code is required");
    }
    let session = text(&body, "session_id").and_then(|s| {
        emulator
            .ledger
            .lock()
            .expect("ledger")
            .sessions
            .get(s)
            .cloned()
    });
    let Some(session) = session else {
        return invalid("session_id", "unknown payout session");
    };
    execute(&emulator, "payout", &body, None, session["amount"].clone())
}

async fn status(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path((kind, reference)): Path<(String, String)>,
) -> Response {
    authorize!(emulator, headers);
    let ledger = emulator.ledger.lock().expect("ledger");
    match ledger.executions.get(&(kind, reference.clone())) {
        Some(execution) => Json(execution_json(&reference, execution)).into_response(),
        None => detail(StatusCode::NOT_FOUND, json!("Not found")),
    }
}
