//! Paystack's direct-debit mandates, from its OpenAPI document and direct-debit guide:
//! `POST /customer/authorization/initialize` (`email`, `channel: "direct_debit"`, `callback_url`) →
//! `redirect_url`, `access_code`, `reference`; the customer approves at `redirect_url`; then
//! `GET /customer/authorization/verify/{reference}` answers 404 until approval, and afterwards the
//! `authorization_code`, `active` and the customer. Approval sends `direct_debit.authorization.created`
//! (not chargeable yet); activation at the bank — after the emulator's settle delay, or at once with
//! the `activate` action — sends `direct_debit.authorization.active`. Only then does
//! `charge_authorization` accept the code. `POST /customer/authorization/deactivate` ends it.
//!
//! Test actions (not Paystack's): `POST /_authorizations/{code}/activate|revoke` (revoke sends
//! `direct_debit.authorization.inactive`, as integrations report it), and
//! `GET /_charges/{code}`, the number of charges made on a code (tests count debits with it).
//! An email whose local part ends in `+manual` is not activated by itself: its bank's activation charge
//! "fails" until `PUT /customer/{id}/directdebit-activation-charge` retries it (which activates it after
//! the settle delay). `GET /customer/{id}/directdebit-mandate-authorizations` lists a customer's
//! mandates with the ids that call names.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use super::{answer, authed_body, invalid_key, secret, token, validation, Emulator};
use crate::emulator::pages;

#[derive(Clone)]
pub struct Mandate {
    reference: String,
    email: String,
    callback_url: Option<String>,
    code: Option<String>,
    /// `pending` (awaiting the customer), `declined`, `approved` (not chargeable), `active`, `revoked`.
    state: &'static str,
    customer_id: i64,
    customer_code: String,
    /// Paystack's integer id of the authorization, from approval on.
    authorization_id: Option<i64>,
    authorized_at: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "emulator/authorize.html")]
struct AuthorizePage<'a> {
    provider: &'a str,
    email: &'a str,
    reference: &'a str,
    status: &'a str,
    open: bool,
    outcome: &'a str,
    action_base: String,
}

fn state_json(mandate: &Mandate, code: &str) -> Value {
    let name = mandate.email.split('@').next().unwrap_or_default();
    json!({"authorization_code": code, "active": mandate.state == "active", "last4": "6789",
           "channel": "direct_debit", "card_type": "mandate", "bank": "Test Bank", "exp_month": 1,
           "exp_year": 2034, "country_code": "NG", "brand": "Test Bank", "reusable": true,
           "signature": "SIG_emulator", "account_name": name, "integration": 1, "domain": "test",
           "reference": mandate.reference,
           "customer": {"first_name": name, "last_name": "", "code": mandate.customer_code, "email": mandate.email,
                        "phone": "", "metadata": null, "risk_action": "default"}})
}

pub async fn initialize(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let Some(email) = body["email"].as_str().filter(|e| e.contains('@')) else {
        return validation("email is required");
    };
    if body["channel"].as_str() != Some("direct_debit") {
        return validation("channel must be direct_debit");
    }
    let reference = token("");
    let access_code = token("");
    let name = email.split('@').next().unwrap_or_default();
    let customer = emulator.customer(&secret, email, name, "", "");
    let mandate = Mandate {
        reference: reference.clone(),
        email: email.to_owned(),
        callback_url: body["callback_url"].as_str().map(str::to_owned),
        code: None,
        state: "pending",
        customer_id: customer.id,
        customer_code: customer.code,
        authorization_id: None,
        authorized_at: None,
    };
    {
        let mut ledger = emulator.state.lock().expect("ledger");
        ledger
            .mandates
            .insert((secret.clone(), reference.clone()), mandate);
        ledger
            .mandate_pages
            .insert(access_code.clone(), (secret, reference.clone()));
    }
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Authorization initialized", "data": {
            "redirect_url": format!("{}/_emulator/paystack/authorize/{access_code}", emulator.config.public_base),
            "access_code": access_code, "reference": reference}}),
    )
}

pub async fn verify(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Response {
    let Some(secret) = secret(&headers) else {
        return invalid_key();
    };
    let ledger = emulator.state.lock().expect("ledger");
    match ledger.mandates.get(&(secret, reference)) {
        Some(
            mandate @ Mandate {
                code: Some(code), ..
            },
        ) => answer(
            StatusCode::OK,
            json!({"status": true, "message": "Authorization retrieved successfully",
                   "data": state_json(mandate, code)}),
        ),
        _ => answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "Authorization not found"}),
        ),
    }
}

pub async fn deactivate(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let Some(code) = body["authorization_code"].as_str() else {
        return validation("authorization_code is required");
    };
    if emulator.set_state(&secret, code, "revoked").is_none() {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "Authorization code not found"}),
        );
    }
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Authorization has been deactivated"}),
    )
}

impl Emulator {
    /// Moves the mandate holding `code` to `state`; only an active one can be charged.
    fn set_state(&self, secret: &str, code: &str, state: &'static str) -> Option<Mandate> {
        let mut ledger = self.state.lock().expect("ledger");
        let key = ledger
            .mandates
            .iter()
            .find(|((s, _), m)| s == secret && m.code.as_deref() == Some(code))
            .map(|(k, _)| k.clone())?;
        let mandate = ledger.mandates.get_mut(&key)?;
        mandate.state = state;
        let mandate = mandate.clone();
        let auth_key = (secret.to_owned(), code.to_owned());
        if state == "active" {
            ledger
                .authorizations
                .insert(auth_key, mandate.email.clone());
        } else if ledger.authorizations.contains_key(&auth_key) {
            // No longer chargeable: the code no longer belongs to any customer.
            ledger.authorizations.insert(auth_key, String::new());
        }
        Some(mandate)
    }

    async fn mandate_event(&self, secret: &str, event: &str, mandate: &Mandate) {
        let Some(code) = &mandate.code else { return };
        let body = json!({"event": event, "data": state_json(mandate, code)}).to_string();
        self.post_signed(secret, body).await;
    }
}

pub async fn page(State(emulator): State<Emulator>, Path(access_code): Path<String>) -> Response {
    let ledger = emulator.state.lock().expect("ledger");
    let Some(mandate) = ledger
        .mandate_pages
        .get(&access_code)
        .and_then(|key| ledger.mandates.get(key))
    else {
        return pages::not_found("This authorization link is not valid.");
    };
    let outcome = match mandate.state {
        "declined" => "You declined this mandate.",
        "revoked" => "This mandate was revoked.",
        "pending" => "",
        _ => "Mandate approved. Your bank will activate it.",
    };
    pages::html(
        StatusCode::OK,
        &AuthorizePage {
            provider: "Paystack",
            email: &mandate.email,
            reference: &mandate.reference,
            status: mandate.state,
            open: mandate.state == "pending",
            outcome,
            action_base: format!("/_emulator/paystack/authorize/{access_code}"),
        },
    )
}

/// The customer approved or declined on the page.
pub async fn act(
    State(emulator): State<Emulator>,
    Path((access_code, action)): Path<(String, String)>,
) -> Response {
    let found = {
        let mut ledger = emulator.state.lock().expect("ledger");
        let Some(key) = ledger.mandate_pages.get(&access_code).cloned() else {
            return pages::not_found("This authorization link is not valid.");
        };
        let Some(mandate) = ledger.mandates.get_mut(&key) else {
            return pages::not_found("This authorization link is not valid.");
        };
        if mandate.state != "pending" {
            None
        } else {
            match action.as_str() {
                "approve" => {
                    mandate.state = "approved";
                    mandate.code = Some(token("AUTH_"));
                    mandate.authorized_at = Some(super::now());
                }
                "decline" => mandate.state = "declined",
                _ => return pages::not_found("No such action."),
            }
            let approved = mandate.clone();
            if approved.state == "approved" {
                ledger.next_id += 1;
                let id = ledger.next_id;
                if let Some(stored) = ledger.mandates.get_mut(&key) {
                    stored.authorization_id = Some(id);
                }
            }
            Some((key.0, approved))
        }
    };
    let back = format!("/_emulator/paystack/authorize/{access_code}");
    let Some((secret, mandate)) = found else {
        return Redirect::to(&back).into_response();
    };
    if mandate.state == "approved" {
        emulator
            .mandate_event(&secret, "direct_debit.authorization.created", &mandate)
            .await;
        let manual = mandate
            .email
            .split('@')
            .next()
            .is_some_and(|local| local.ends_with("+manual"));
        if !manual {
            // The bank activates the mandate a while later (a day or more at a real bank).
            let (emulator, code) = (emulator.clone(), mandate.code.clone().unwrap_or_default());
            tokio::spawn(async move {
                tokio::time::sleep(emulator.config.settle_delay).await;
                activate(&emulator, &secret, &code).await;
            });
        }
    }
    Redirect::to(mandate.callback_url.as_deref().unwrap_or(&back)).into_response()
}

async fn activate(emulator: &Emulator, secret: &str, code: &str) -> bool {
    let approved = emulator
        .state
        .lock()
        .expect("ledger")
        .mandates
        .iter()
        .any(|((s, _), m)| s == secret && m.code.as_deref() == Some(code) && m.state == "approved");
    if !approved {
        return false;
    }
    if let Some(mandate) = emulator.set_state(secret, code, "active") {
        emulator
            .mandate_event(secret, "direct_debit.authorization.active", &mandate)
            .await;
    }
    true
}

/// Test actions: `activate` an approved mandate now, or `revoke` one (as the customer at their bank).
pub async fn operate(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path((code, action)): Path<(String, String)>,
) -> Response {
    let Some(secret) = secret(&headers) else {
        return invalid_key();
    };
    let done = match action.as_str() {
        "activate" => activate(&emulator, &secret, &code).await,
        "revoke" => match emulator.set_state(&secret, &code, "revoked") {
            Some(mandate) => {
                emulator
                    .mandate_event(&secret, "direct_debit.authorization.inactive", &mandate)
                    .await;
                true
            }
            None => false,
        },
        _ => false,
    };
    if done {
        answer(StatusCode::OK, json!({"status": true, "message": action}))
    } else {
        answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "No such authorization in that state"}),
        )
    }
}

pub async fn charges(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let Some(secret) = secret(&headers) else {
        return invalid_key();
    };
    let count = emulator
        .state
        .lock()
        .expect("ledger")
        .charges
        .get(&(secret, code))
        .copied()
        .unwrap_or(0);
    answer(
        StatusCode::OK,
        json!({"status": true, "data": {"charges": count}}),
    )
}

/// `GET /customer/{id}/directdebit-mandate-authorizations` (`CustomerFetchMandateAuthorizationsResponse`).
pub async fn list_for_customer(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(customer): Path<String>,
) -> Response {
    let Some(secret) = secret(&headers) else {
        return invalid_key();
    };
    let Ok(customer) = customer.parse::<i64>() else {
        return validation("Customer ID must be an integer");
    };
    let ledger = emulator.state.lock().expect("ledger");
    let data: Vec<Value> = ledger
        .mandates
        .iter()
        .filter(|((s, _), m)| *s == secret && m.customer_id == customer)
        .filter_map(|(_, m)| {
            let (code, authorization_id) = (m.code.as_ref()?, m.authorization_id?);
            let status = match m.state {
                "active" => "active",
                "approved" => "pending",
                _ => "inactive",
            };
            let name = m.email.split('@').next().unwrap_or_default();
            Some(
                json!({"id": authorization_id, "status": status, "mandate_id": authorization_id,
                        "authorization_id": authorization_id, "authorization_code": code,
                        "integration_id": 100032, "account_number": "0123456789", "bank_code": "058",
                        "bank_name": null,
                        "customer": {"id": m.customer_id, "customer_code": m.customer_code,
                                     "email": m.email, "first_name": name, "last_name": ""},
                        "authorized_at": m.authorized_at}),
            )
        })
        .collect();
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Mandate authorizations retrieved successfully",
               "meta": {"per_page": 50, "next": null, "count": data.len(), "total": data.len()},
               "data": data}),
    )
}

/// `PUT /customer/{id}/directdebit-activation-charge`: the bank tries the activation debit again, and
/// this time (after the settle delay) it goes through.
pub async fn retry_activation(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    Path(customer): Path<String>,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let (Ok(customer), Some(authorization_id)) =
        (customer.parse::<i64>(), body["authorization_id"].as_i64())
    else {
        return validation("authorization_id is required");
    };
    let found = emulator
        .state
        .lock()
        .expect("ledger")
        .mandates
        .iter()
        .find(|((s, _), m)| {
            *s == secret
                && m.customer_id == customer
                && m.authorization_id == Some(authorization_id)
        })
        .map(|(_, m)| m.clone());
    let Some(mandate) = found else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "Authorization not found"}),
        );
    };
    if mandate.state != "approved" {
        return validation("Mandate is not awaiting activation");
    }
    let (later, code) = (emulator.clone(), mandate.code.unwrap_or_default());
    tokio::spawn(async move {
        tokio::time::sleep(later.config.settle_delay).await;
        activate(&later, &secret, &code).await;
    });
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Mandate is queued for retry"}),
    )
}
