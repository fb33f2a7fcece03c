//! Paystack's wire format, from its OpenAPI document (`shared/providers/paystack.openapi.yaml`).
//! Amounts are integers in the currency's minor unit, both ways.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{status, message, data}` around every Paystack answer.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub status: bool,
    #[serde(default)]
    pub message: String,
    pub data: Option<T>,
}

/// An error answer (`Error` / `TransactionInitializeBadRequestModel` in the spec).
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
    pub code: Option<String>,
}

/// `POST /transaction/initialize` (`TransactionInitialize`).
#[derive(Debug, Serialize)]
pub struct InitializeRequest<'a> {
    pub email: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub reference: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct InitializeData {
    pub authorization_url: String,
    pub access_code: String,
    pub reference: String,
}

/// A transaction, as `GET /transaction/verify/{reference}` and `/transaction/charge_authorization` return
/// it (only the fields Cowry reads; the spec leaves `status` an untyped string).
#[derive(Debug, Deserialize)]
pub struct Transaction {
    #[serde(default)]
    pub id: Option<Value>,
    pub status: String,
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub gateway_response: Option<String>,
    #[serde(default)]
    pub paid_at: Option<String>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
}

#[derive(Debug, Deserialize)]
pub struct Authorization {
    #[serde(default)]
    pub authorization_code: Option<String>,
    #[serde(default)]
    pub reusable: Option<bool>,
}

/// `POST /charge` (`ChargeCreate` with `bank` or `mobile_money`).
#[derive(Debug, Serialize)]
pub struct ChargeRequest<'a> {
    pub email: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub reference: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_money: Option<MobileMoney<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank: Option<Bank<'a>>,
}

#[derive(Debug, Serialize)]
pub struct MobileMoney<'a> {
    pub phone: &'a str,
    pub provider: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Bank<'a> {
    pub code: &'a str,
    pub account_number: &'a str,
}

/// `/charge` answers: `status` may ask for a next step (`send_otp`, …) or `pending` on the customer.
#[derive(Debug, Deserialize)]
pub struct ChargeData {
    pub status: String,
    pub reference: String,
    #[serde(default)]
    pub display_text: Option<String>,
    #[serde(default)]
    pub gateway_response: Option<String>,
}

/// `POST /transaction/charge_authorization`; `metadata` is a JSON *string* here.
#[derive(Debug, Serialize)]
pub struct ChargeAuthorizationRequest<'a> {
    pub email: &'a str,
    pub amount: i64,
    pub authorization_code: &'a str,
    pub reference: &'a str,
    pub currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

/// `POST /customer` (`CustomerCreate`).
#[derive(Debug, Serialize)]
pub struct CustomerRequest<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub phone: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct CustomerData {
    pub customer_code: String,
}

/// `POST /dedicated_account` (`DedicatedVirtualAccountCreate`).
#[derive(Debug, Serialize)]
pub struct DedicatedAccountRequest<'a> {
    pub customer: &'a str,
    pub preferred_bank: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct DedicatedAccountData {
    pub account_name: String,
    pub account_number: String,
    pub bank: DedicatedBank,
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct DedicatedBank {
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
}

/// A webhook: `{event, data}`; `data` is a transaction for `charge.*` events.
#[derive(Debug, Deserialize)]
pub struct WebhookBody {
    pub event: String,
    #[serde(default)]
    pub data: Value,
}

/// `POST /customer/authorization/initialize` (direct debit: the only channel Paystack offers there).
#[derive(Debug, Serialize)]
pub struct AuthorizationRequest<'a> {
    pub email: &'a str,
    pub channel: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct AuthorizationStarted {
    pub redirect_url: String,
    pub access_code: String,
    pub reference: String,
}

/// `GET /customer/authorization/verify/{reference}` and the `direct_debit.authorization.*` events.
#[derive(Debug, Deserialize)]
pub struct AuthorizationState {
    pub authorization_code: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub customer: Option<AuthorizationCustomer>,
}

#[derive(Debug, Deserialize)]
pub struct AuthorizationCustomer {
    #[serde(default)]
    pub email: Option<String>,
    /// `CUS_…`.
    #[serde(default)]
    pub code: Option<String>,
}

/// `POST /refund` (`RefundCreate`): the whole transaction.
#[derive(Debug, Serialize)]
pub struct RefundRequest<'a> {
    pub transaction: &'a str,
    pub merchant_note: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct RefundData {
    pub status: String,
}

/// `GET /customer/{code}` data (only what Cowry reads).
#[derive(Debug, Deserialize)]
pub struct CustomerRecord {
    pub id: i64,
}

/// An entry of `GET /customer/{id}/directdebit-mandate-authorizations`.
#[derive(Debug, Deserialize)]
pub struct MandateAuthorization {
    pub authorization_id: i64,
    pub authorization_code: String,
    pub status: String,
}

/// `PUT /customer/{id}/directdebit-activation-charge`.
#[derive(Debug, Serialize)]
pub struct ActivationChargeRequest {
    pub authorization_id: i64,
}

#[derive(Debug, Serialize)]
pub struct DeactivateRequest<'a> {
    pub authorization_code: &'a str,
}
