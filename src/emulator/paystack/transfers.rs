//! Money paid into a dedicated account, as Paystack reports it: a transaction with a reference Paystack
//! generates, `channel: "dedicated_nuban"`, the receiving account in `metadata` and `authorization`, the
//! account's customer, and a signed `charge.success` webhook. A test sends one with
//! `POST /_transfers {"account_number", "amount"}` (kobo); a person with the page at
//! `/bank/{account_number}` (naira).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{answer, now, pages, validation, verify_json, Customer, Emulator, Tx};
use crate::domain::currency::Currency;
use crate::domain::money::Money;

/// The sending bank and the masked account every emulated transfer comes from.
const SENDER_BANK: &str = "Kuda Bank";
const SENDER_ACCOUNT: &str = "XXXXXX4321";

/// Paystack's fields for a transfer into `account_number` (its `VerifyResponse` and webhook `data`).
pub(super) fn describe(data: &mut Value, account_number: &str, customer: &Customer) {
    data["metadata"] = json!({
        "receiver_account_number": account_number,
        "receiver_bank": "Test Bank",
        "custom_fields": [
            {"display_name": "Receiver Account", "variable_name": "receiver_account_number", "value": account_number},
            {"display_name": "Receiver Bank", "variable_name": "receiver_bank", "value": "Test Bank"}
        ]
    });
    data["authorization"] = json!({
        "authorization_code": format!("AUTH_{}", data["reference"].as_str().and_then(|r| r.get(13..)).unwrap_or("transfer")),
        "bin": "008XXX", "last4": "X321", "exp_month": "12", "exp_year": "2030",
        "channel": "dedicated_nuban", "card_type": "transfer", "bank": null, "country_code": "NG",
        "brand": "Managed Account", "reusable": false, "signature": null, "account_name": null,
        "sender_country": "NG", "sender_bank": SENDER_BANK, "sender_bank_account_number": SENDER_ACCOUNT,
        "receiver_bank_account_number": account_number, "receiver_bank": "Test Bank"
    });
    data["customer"] = json!({
        "id": customer.id, "first_name": customer.first_name, "last_name": customer.last_name,
        "email": customer.email, "customer_code": customer.code, "phone": customer.phone,
        "metadata": {}, "risk_action": "default", "international_format_phone": customer.phone
    });
}

/// A Paystack-generated reference: the time in milliseconds, then 15 lower-case letters and digits.
fn generated_reference() -> String {
    let tail: String =
        crate::domain::ids::random_chars(15, b"abcdefghijklmnopqrstuvwxyz0123456789").collect();
    format!("{}{tail}", chrono::Utc::now().timestamp_millis())
}

impl Emulator {
    /// Credits `amount` kobo to the dedicated account: a successful transaction, and its webhook.
    async fn credit(&self, account_number: &str, amount: i64) -> Option<Tx> {
        let (secret, customer) = self
            .state
            .lock()
            .expect("ledger")
            .dedicated
            .get(account_number)
            .cloned()?;
        let paid_at = now();
        let tx = Tx {
            id: 0,
            reference: generated_reference(),
            amount,
            currency: "NGN".to_owned(),
            email: customer.email.clone(),
            channel: "dedicated_nuban",
            status: "success",
            gateway_response: "Approved",
            paid_at: Some(paid_at.clone()),
            created_at: paid_at,
            authorization_code: None,
            callback_url: None,
            receiver: Some((account_number.to_owned(), customer)),
        };
        let tx = self.open(&secret, tx).ok()?;
        self.send_webhook(&secret, &tx).await;
        Some(tx)
    }
}

/// `POST /_transfers`: the test call.
pub(super) async fn transfer(State(emulator): State<Emulator>, raw: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
        return validation("Invalid JSON");
    };
    let (Some(account_number), Some(amount)) =
        (body["account_number"].as_str(), body["amount"].as_i64())
    else {
        return validation("account_number and amount (kobo) are required");
    };
    if amount <= 0 {
        return validation("amount must be positive");
    }
    match emulator.credit(account_number, amount).await {
        Some(tx) => answer(
            StatusCode::OK,
            json!({"status": true, "message": "Transfer received", "data": verify_json(&tx)}),
        ),
        None => answer(
            StatusCode::NOT_FOUND,
            json!({"status": false, "message": "Dedicated account not found"}),
        ),
    }
}

#[derive(askama::Template)]
#[template(path = "emulator/bank.html")]
struct Bank<'a> {
    provider: &'a str,
    account_number: &'a str,
    account_name: String,
    sent: String,
    action: String,
}

fn bank_page(emulator: &Emulator, account_number: &str, sent: String) -> Response {
    let customer = emulator
        .state
        .lock()
        .expect("ledger")
        .dedicated
        .get(account_number)
        .map(|(_, c)| c.clone());
    let Some(customer) = customer else {
        return pages::not_found("No dedicated account has this number.");
    };
    pages::html(
        StatusCode::OK,
        &Bank {
            provider: "Paystack",
            account_number,
            account_name: format!("{} {}", customer.first_name, customer.last_name)
                .trim()
                .to_owned(),
            sent,
            action: format!("/_emulator/paystack/bank/{account_number}"),
        },
    )
}

/// `GET /bank/{account_number}`: the page.
pub(super) async fn page(
    State(emulator): State<Emulator>,
    Path(account_number): Path<String>,
) -> Response {
    bank_page(&emulator, &account_number, String::new())
}

/// `POST /bank/{account_number}` (form: `amount` in naira): the page's button.
pub(super) async fn send(
    State(emulator): State<Emulator>,
    Path(account_number): Path<String>,
    raw: axum::body::Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    struct Form {
        amount: String,
    }
    let naira = Currency::parse("NGN").expect("NGN is known");
    let amount = serde_urlencoded::from_bytes::<Form>(&raw)
        .ok()
        .and_then(|form| Money::from_major_str(form.amount.trim(), naira).ok())
        .filter(|money| money.minor() > 0);
    let Some(amount) = amount else {
        return bank_page(
            &emulator,
            &account_number,
            "Enter an amount in naira, e.g. 450.00.".to_owned(),
        );
    };
    let sent = match emulator.credit(&account_number, amount.minor()).await {
        Some(tx) => format!("Sent {}. Reference {}.", amount.display(), tx.reference),
        None => "The transfer could not be sent.".to_owned(),
    };
    bank_page(&emulator, &account_number, sent)
}
