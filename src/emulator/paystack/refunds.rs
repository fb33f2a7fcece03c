//! `POST /refund` (`RefundCreate`): a full refund of a paid transaction, queued (`pending`; the
//! transaction still reads `success`); after the settle delay it is `reversed` and the signed
//! `refund.processed` webhook goes out (data:
//! `transaction_reference`, `amount`, `status: "processed"`). A second refund of the same transaction
//! is refused with Paystack's "Transaction has been fully reversed".

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::{answer, authed_body, customer_json, now, validation, Emulator, Tx};

pub async fn create(
    State(emulator): State<Emulator>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let (secret, body) = match authed_body(&headers, &raw) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    // `transaction` is the reference or the id, as the spec allows either.
    let wanted = match &body["transaction"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return validation("Transaction reference or id is required"),
    };
    let tx = {
        let mut ledger = emulator.state.lock().expect("ledger");
        let found = ledger
            .transactions
            .iter()
            .find(|((s, reference), tx)| {
                *s == secret && (*reference == wanted || tx.id.to_string() == wanted)
            })
            .map(|(k, tx)| (k.clone(), tx.clone()));
        let Some((key, tx)) = found else {
            return answer(
                StatusCode::NOT_FOUND,
                json!({"status": false, "message": "Transaction not found"}),
            );
        };
        if tx.status == "reversed" || ledger.refunded.contains(&key) {
            return validation("Transaction has been fully reversed");
        }
        if tx.status != "success" {
            return validation("Cannot refund a transaction that was not successful");
        }
        ledger.refunded.insert(key);
        tx
    };
    let refund_id = emulator.id_base + tx.id % 1_000_000;
    let (later, secret_later, reference) = (emulator.clone(), secret.clone(), tx.reference.clone());
    tokio::spawn(async move {
        tokio::time::sleep(later.config.settle_delay).await;
        later.reverse(&secret_later, &reference, refund_id).await;
    });
    answer(
        StatusCode::OK,
        json!({"status": true, "message": "Refund has been queued for processing", "data": {
            "transaction": transaction_json(&tx), "integration": 100032, "deducted_amount": 0,
            "channel": null, "merchant_note": body["merchant_note"].as_str().unwrap_or_default(),
            "customer_note": body["customer_note"].as_str().unwrap_or_default(), "status": "pending",
            "refunded_by": "emulator@cowry.test", "expected_at": now(), "currency": tx.currency,
            "domain": "test", "amount": tx.amount, "fully_deducted": false, "id": refund_id,
            "createdAt": now(), "updatedAt": now()}}),
    )
}

/// The refund's `transaction` (`RefundCreateResponse.data.transaction`).
fn transaction_json(tx: &Tx) -> Value {
    let paid_at = tx.paid_at.clone().unwrap_or_else(|| tx.created_at.clone());
    json!({"id": tx.id, "domain": "test", "reference": tx.reference, "amount": tx.amount,
           "paid_at": paid_at, "channel": tx.channel, "currency": tx.currency,
           "authorization": {"exp_month": null, "exp_year": null, "account_name": null},
           "customer": {"international_format_phone": null}, "plan": {},
           "subaccount": {"currency": null}, "split": {}, "order_id": null, "paidAt": paid_at,
           "pos_transaction_data": null, "source": null, "fees_breakdown": null})
}

impl Emulator {
    async fn reverse(&self, secret: &str, reference: &str, refund_id: i64) {
        let tx = {
            let mut ledger = self.state.lock().expect("ledger");
            let Some(tx) = ledger
                .transactions
                .get_mut(&(secret.to_owned(), reference.to_owned()))
            else {
                return;
            };
            tx.status = "reversed";
            tx.clone()
        };
        let body = json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": tx.reference, "refund_reference": null,
            "amount": tx.amount, "currency": tx.currency, "processor": tx.channel, "id": refund_id,
            "integration": 100032, "domain": "test", "customer": customer_json(&tx)}})
        .to_string();
        self.post_signed(secret, body).await;
    }
}
