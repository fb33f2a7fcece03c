//! `POST /webhooks/{provider}/{account}` (and the older `/webhooks/{provider}`): provider callbacks. Each
//! is stored (raw body, the headers that matter, the verdict) before it is answered, either with its
//! effect or with a durable job that acts on it, so a crash after the 200 loses nothing. A verified
//! success for a collection's plain payment settles in the transaction that stores its receipt (one
//! statement, `store::paid_callback`); anything else, or that settlement failing, goes to a job.
//! - Paystack signs: the hex HMAC-SHA512 of the raw body under the account's secret key, checked in
//!   constant time before the body is trusted. Missing or bad → 401, nothing changes.
//! - MTN MoMo and Airtel Money callbacks are not (verifiably) signed: they are hints that bring the
//!   attempt's status check forward; only the provider's status API moves money.
//!
//! Deliveries are de-duplicated by the provider's event or transaction id: only the first receipt of a
//! key is acted on. At an account's own URL the account gives the verification key and the scope of the
//! de-duplication, so deliveries that name no Cowry reference (a Paystack refund names the transaction
//! in `data.transaction_reference`) are verified and routed too; the older URL finds the account
//! through the Cowry reference the callback carries.

use axum::body::Bytes;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::domain::ids::new_id;
use crate::error::{ApiError, ApiResult};
use crate::http::rate_limit::Rate;
use crate::jobs::{reconcile, transfer, webhook};
use crate::providers::{accounts, paystack, registry::paystack_secret, Account};
use crate::store::attempts::AttemptRow;
use crate::store::sha256;
use crate::store::webhooks::{self, NewReceipt, Then};
use crate::AppState;

pub fn router() -> Router<AppState> {
    // MTN sends its callback as a PUT (or POST); the others POST.
    Router::new()
        .route("/webhooks/{provider}", post(receive).put(receive))
        .route(
            "/webhooks/{provider}/{account}",
            post(receive_for_account).put(receive_for_account),
        )
}

/// Headers kept with a receipt: enough to audit a delivery, never credentials.
const KEPT_HEADERS: [&str; 5] = [
    "content-type",
    "user-agent",
    "x-paystack-signature",
    "x-forwarded-for",
    "x-request-id",
];

/// Receive a provider callback.
#[utoipa::path(method(post, put), path = "/webhooks/{provider}", tag = "webhooks",
    params(("provider" = String, Path, description = "paystack, mtn_momo or airtel_money"),
        ("reference" = Option<String>, Query, description = "MoMo: the X-Reference-Id (Cowry sets it in X-Callback-Url)")),
    request_body(content = String, description = "The provider's callback, verified over its raw bytes"),
    responses((status = 200, description = "Stored; acted on by a job"),
        (status = 401, description = "Missing or bad signature; nothing changed", body = crate::error::ErrorBody),
        (status = 404, description = "No such provider, or one that sends no callbacks", body = crate::error::ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let client = client_address(&state, peer, &headers);
    dispatch(&state, &provider, None, &query, client, &headers, &body).await
}

/// How long a succeeded payment a callback named is remembered (`Received::attempt_by_reference`).
pub const SUCCEEDED_ATTEMPT_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deliveries that fail verification, per client address: a provider's genuine callbacks are never
/// counted (they verify), so only forgers and misconfigured senders meet this.
const FAILED_VERIFICATIONS: Rate = Rate {
    per_second: 1,
    burst: 20,
};

fn client_address(
    state: &AppState,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    crate::http::rate_limit::client_address(
        peer.map(|axum::Extension(ConnectInfo(addr))| addr.ip()),
        headers,
        &state.config.trusted_proxies,
    )
}

/// Receive a provider callback at the account's own URL (shown as `callbackUrl` in `GET /providers`).
#[utoipa::path(method(post, put), path = "/webhooks/{provider}/{account}", tag = "webhooks",
    params(("provider" = String, Path, description = "paystack, mtn_momo or airtel_money"),
        ("account" = String, Path, description = "The provider account's id (acct_…)"),
        ("reference" = Option<String>, Query, description = "MoMo: the X-Reference-Id (Cowry sets it in X-Callback-Url)")),
    request_body(content = String, description = "The provider's callback, verified over its raw bytes with the account's key"),
    responses((status = 200, description = "Stored; acted on by a job"),
        (status = 401, description = "Missing or bad signature; nothing changed", body = crate::error::ErrorBody),
        (status = 404, description = "No such account for this provider", body = crate::error::ErrorBody)))]
pub async fn receive_for_account(
    State(state): State<AppState>,
    Path((provider, account_id)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let client = client_address(&state, peer, &headers);
    let no_account = || ApiError::NotFound("no such provider account".to_owned());
    if account_id.len() > 64 {
        return Err(no_account());
    }
    let (account, cached) = accounts::cached_by_id(&state, &account_id)
        .await?
        .filter(|(a, _)| a.kind == provider)
        .ok_or_else(no_account)?;
    let at_account = Some((&account, cached));
    dispatch(
        &state, &provider, at_account, &query, client, &headers, &body,
    )
    .await
}

async fn dispatch(
    state: &AppState,
    provider: &str,
    // At an account's own URL: the account, and whether it came from the cache.
    account: Option<(&Account, bool)>,
    query: &std::collections::HashMap<String, String>,
    client: Option<IpAddr>,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let kept: serde_json::Map<String, Value> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), Value::String(value.to_owned())))
        })
        .collect();
    let received = Received {
        state,
        account: account.map(|(a, _)| a),
        account_cached: account.is_some_and(|(_, cached)| cached),
        client,
        headers: Value::Object(kept),
        body,
    };
    match provider {
        "paystack" => received.paystack(headers).await,
        "mtn_momo" => {
            let reference = query
                .get("reference")
                .map(String::as_str)
                .unwrap_or_default();
            let status = json_field(body, &["status"]);
            received.hint("mtn_momo", reference, &status).await
        }
        "airtel_money" => {
            let id = json_field(body, &["transaction", "id"]);
            let status = json_field(body, &["transaction", "status_code"]);
            received.hint("airtel_money", &id, &status).await
        }
        "mona" | "dollr" | "sandbox" => Err(ApiError::NotFound(format!(
            "{provider} sends no callbacks Cowry accepts"
        ))),
        _ => Err(ApiError::NotFound("no such provider".to_owned())),
    }
}

fn json_field(body: &[u8], path: &[&str]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let found = path.iter().try_fold(&value, |v, key| v.get(key));
    match found {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Counts a stored receipt in `/metrics` (by provider and verdict, or as a duplicate); answers `first`.
fn counted(receipt: &NewReceipt<'_>, first: bool) -> bool {
    let counted = if first { receipt.verdict } else { "duplicate" };
    crate::metrics::METRICS
        .webhooks
        .with_label_values(&[receipt.provider, counted])
        .inc();
    first
}

fn acknowledged() -> (StatusCode, Json<Value>) {
    (
        StatusCode::OK,
        Json(json!({"success": true, "message": "Callback received"})),
    )
}

struct Received<'a> {
    state: &'a AppState,
    /// The account whose URL the callback came to (`None` at the older `/webhooks/{provider}`).
    account: Option<&'a Account>,
    /// Whether `account` came from the cache (a key that fails is read again before refusing).
    account_cached: bool,
    /// Where it came from (for limiting deliveries that fail verification).
    client: Option<IpAddr>,
    headers: Value,
    body: &'a [u8],
}

impl Received<'_> {
    /// A receipt of this delivery, recorded only unless the caller says more.
    fn receipt<'b>(
        &'b self,
        id: &'b str,
        provider: &'b str,
        attempt: Option<&'b AttemptRow>,
        verdict: &'b str,
    ) -> NewReceipt<'b> {
        NewReceipt {
            id,
            provider,
            merchant_id: attempt
                .map(|a| a.merchant_id.as_str())
                .or(self.account.map(|a| a.merchant_id.as_str())),
            attempt_id: attempt.map(|a| a.id.as_str()),
            headers: &self.headers,
            body: self.body,
            verdict,
            dedupe_key: None,
            outcome: None,
            then: Then::Nothing,
        }
    }

    /// Stores a receipt and what it sets going; returns whether it is the first of its key.
    async fn store(
        &self,
        db: impl sqlx::PgExecutor<'_>,
        receipt: &NewReceipt<'_>,
    ) -> ApiResult<bool> {
        let first = webhooks::insert(db, receipt).await?;
        Ok(counted(receipt, first))
    }

    /// `store` on its own, with whatever other receipts are being stored at the same moment: one
    /// statement and one commit for them all (`store::group_commit`).
    async fn store_grouped(&self, receipt: &NewReceipt<'_>) -> ApiResult<bool> {
        let first = self.state.receipts.submit(receipt.row()).await?;
        Ok(counted(receipt, first))
    }

    /// What a delivery's event id is unique within: the account it came to, else the merchant whose
    /// payment it names (one merchant's signed callback can never pre-claim another's event id).
    fn scope(&self, attempt: Option<&AttemptRow>) -> String {
        match (self.account.and_then(|a| a.id.as_deref()), attempt) {
            (Some(account), _) => account.to_owned(),
            (None, Some(attempt)) => attempt.merchant_id.clone(),
            (None, None) => String::new(),
        }
    }

    /// Whether `signature` is Paystack's over the body under the account's secret key.
    fn verifies(&self, account: &Account, signature: &str) -> bool {
        paystack_secret(account)
            .is_some_and(|secret| paystack::verify_signature(secret, self.body, signature))
    }

    /// Stores a refused delivery and answers 401.
    async fn reject(
        &self,
        provider: &str,
        attempt: Option<&AttemptRow>,
        why: &str,
    ) -> ApiResult<(StatusCode, Json<Value>)> {
        // Past the limit a failed delivery is not even stored: storage is no one's to fill.
        if let Some(client) = self.client {
            self.state
                .limiters
                .check_address(client, FAILED_VERIFICATIONS)?;
        }
        let id = new_id("whr");
        let receipt = NewReceipt {
            outcome: Some(why),
            ..self.receipt(&id, provider, attempt, "rejected")
        };
        self.store(&self.state.pool, &receipt).await?;
        tracing::warn!(provider, reason = why, "callback rejected");
        Err(ApiError::Unauthorized(format!("callback rejected: {why}")))
    }

    async fn paystack(&self, headers: &HeaderMap) -> ApiResult<(StatusCode, Json<Value>)> {
        let Some(signature) = headers
            .get("x-paystack-signature")
            .and_then(|v| v.to_str().ok())
        else {
            return self
                .reject("paystack", None, "missing x-paystack-signature")
                .await;
        };
        if let Some(account) = self.account {
            return self.paystack_for_account(account, signature).await;
        }
        // The key to check the signature with belongs to the merchant whose transaction this is, so
        // the reference is read first, from bytes not yet trusted for anything else (a refund names the
        // payment in `data.transaction_reference`).
        let reference = match json_field(self.body, &["event"]).as_str() {
            "refund.processed" => json_field(self.body, &["data", "transaction_reference"]),
            _ => json_field(self.body, &["data", "reference"]),
        };
        let attempt = self
            .attempt_by_reference(None, "paystack", &reference)
            .await?;
        let Some(attempt) = attempt else {
            // A transfer into a dedicated account names Paystack's own reference: its receiving
            // account number says whose it is.
            if let Some(transfer) = paystack::parse_transfer(self.body) {
                return self.paystack_transfer(&transfer, signature).await;
            }
            return self
                .reject(
                    "paystack",
                    None,
                    "no Cowry transaction has this reference, so its signature cannot be checked",
                )
                .await;
        };
        let (merchant, slug) = (&attempt.merchant_id, &attempt.provider);
        let Some((account, cached)) = accounts::cached(self.state, merchant, slug).await? else {
            return self
                .reject(
                    "paystack",
                    Some(&attempt),
                    "the provider account was removed",
                )
                .await;
        };
        if !self.verifies(&account, signature) {
            // A cached key may be one another process has since replaced (the account removed and
            // added again): the stored one decides.
            let fresh = match cached {
                true => accounts::reopen(self.state, merchant, slug).await?,
                false => None,
            };
            if !fresh.is_some_and(|fresh| self.verifies(&fresh, signature)) {
                return self
                    .reject("paystack", Some(&attempt), "bad x-paystack-signature")
                    .await;
            }
        }
        self.paystack_verified(Some(&attempt)).await
    }

    /// A transfer at the older URL: the accounts that keep its receiving account number are tried in
    /// turn; the one whose key verifies the signature takes it, as if it had come to that account's URL.
    async fn paystack_transfer(
        &self,
        transfer: &paystack::Transfer,
        signature: &str,
    ) -> ApiResult<(StatusCode, Json<Value>)> {
        let owners =
            crate::store::virtual_accounts::owners(&self.state.pool, &transfer.account_number)
                .await?;
        for (merchant_id, slug) in owners {
            let Some(account) = accounts::open(self.state, &merchant_id, &slug).await? else {
                continue;
            };
            if self.verifies(&account, signature) {
                let at_account = Received {
                    account: Some(&account),
                    account_cached: false,
                    headers: self.headers.clone(),
                    ..*self
                };
                return at_account.paystack_for_account(&account, signature).await;
            }
        }
        self.reject(
            "paystack",
            None,
            "no account Cowry keeps has this receiving account number with a key that verifies",
        )
        .await
    }

    /// At the account's own URL: the account's key checks the signature before anything in the body is
    /// read, and the payment is found within the account's merchant (a refund names it in
    /// `data.transaction_reference`).
    async fn paystack_for_account(
        &self,
        account: &Account,
        signature: &str,
    ) -> ApiResult<(StatusCode, Json<Value>)> {
        if !self.verifies(account, signature) {
            let fresh = match (self.account_cached, account.id.as_deref()) {
                (true, Some(id)) => accounts::reopen_by_id(self.state, id).await?,
                _ => None,
            };
            if !fresh.is_some_and(|fresh| self.verifies(&fresh, signature)) {
                return self
                    .reject("paystack", None, "bad x-paystack-signature")
                    .await;
            }
        }
        let mut reference = json_field(self.body, &["data", "reference"]);
        if reference.is_empty() {
            reference = json_field(self.body, &["data", "transaction_reference"]);
        }
        let attempt = if reference.is_empty() {
            None
        } else {
            self.attempt_by_reference(Some(&account.merchant_id), "paystack", &reference)
                .await?
        };
        self.paystack_verified(attempt.as_ref()).await
    }

    /// A verified Paystack delivery: stored, and (the first time) acted on when it names a Cowry payment —
    /// a collection's plain payment settled before the answer, in the transaction that stores the
    /// receipt; anything else by a job.
    async fn paystack_verified(
        &self,
        attempt: Option<&AttemptRow>,
    ) -> ApiResult<(StatusCode, Json<Value>)> {
        let event = json_field(self.body, &["event"]);
        let transaction = json_field(self.body, &["data", "id"]);
        let scope = self.scope(attempt);
        let dedupe_key = if transaction.is_empty() {
            format!("{scope}:{}", hex::encode(sha256(self.body)))
        } else {
            format!("{scope}:{event}:{transaction}")
        };
        // Money paid into a dedicated account names no Cowry payment: it is matched by a job.
        let transfer = match (attempt, self.account) {
            (None, Some(account)) => paystack::parse_transfer(self.body).map(|_| account),
            _ => None,
        };
        let success = attempt.and_then(|a| Some((a, webhook::success_for(a, self.body)?)));
        let settled = success.is_some_and(|(a, amount)| webhook::records_success(a, amount));
        let outcome = match (attempt, settled) {
            (None, _) if transfer.is_some() => None,
            (None, _) => Some("verified; names no Cowry payment, recorded only"),
            (Some(_), true) => Some(webhook::REPEATS_SETTLED),
            (Some(_), false) => None,
        };
        let id = new_id("whr");
        if let (Some((attempt, amount)), false, None) = (success, settled, transfer) {
            // A collection's plain payment: settled before the answer, when it can be.
            let receipt = NewReceipt {
                dedupe_key: Some(&dedupe_key),
                ..self.receipt(&id, "paystack", Some(attempt), "verified")
            };
            if webhook::settle_before_answer(self.state, attempt, amount, &receipt).await {
                counted(&receipt, true);
                return Ok(acknowledged());
            }
        }
        let payload;
        let then = match (attempt, transfer) {
            (_, Some(account)) => {
                payload = transfer::payload(&id, &account.merchant_id, &account.slug);
                Then::Job {
                    kind: transfer::KIND,
                    merchant_id: &account.merchant_id,
                    payload: &payload,
                }
            }
            (Some(_), None) if settled => Then::Processed,
            (Some(attempt), None) => {
                let reported = success.map(|(_, amount)| amount);
                payload = webhook::payload(&id, &attempt.merchant_id, &attempt.id, reported);
                let job = (webhook::KIND, attempt.merchant_id.as_str(), &payload);
                match success {
                    // A success for a payment not yet settled as read: its settlement may be in flight
                    // (the charge's own answer being recorded), and is waited for in the statement.
                    Some((_, amount)) => Then::JobUnlessSettled {
                        job,
                        attempt_id: &attempt.id,
                        amount_minor: amount.minor(),
                        currency: amount.currency().code(),
                        outcome_if_settled: webhook::REPEATS_SETTLED,
                    },
                    None => Then::Job {
                        kind: job.0,
                        merchant_id: job.1,
                        payload: job.2,
                    },
                }
            }
            (None, None) => Then::Nothing,
        };
        let receipt = NewReceipt {
            dedupe_key: Some(&dedupe_key),
            outcome,
            then,
            ..self.receipt(&id, "paystack", attempt, "verified")
        };
        self.store_grouped(&receipt).await?;
        Ok(acknowledged())
    }

    /// The attempt a callback names (within a merchant's, when it came to an account's URL), looked up
    /// together with the other callbacks arriving now (`store::read_batch::AttemptsByReference`), or
    /// remembered: an attempt read as `succeeded` is kept (without its call records), since what the
    /// intake reads of it cannot change in a way that matters here — a succeeded attempt only moves on
    /// to `reversed`, and a callback decided as if it came before the reversal decides the same (see
    /// `jobs::webhook::records_success`; anything else it reports goes to a job, which reads the attempt
    /// afresh under its lock). Providers repeat deliveries; a repeat then costs no read.
    async fn attempt_by_reference(
        &self,
        merchant_id: Option<&str>,
        kind: &str,
        reference: &str,
    ) -> Result<Option<AttemptRow>, sqlx::Error> {
        let key = (
            merchant_id.map(str::to_owned),
            kind.to_owned(),
            reference.to_owned(),
        );
        if let Some(attempt) = self.state.succeeded_attempts.get(&key) {
            return Ok(Some(attempt));
        }
        let attempt = self.state.attempt_reads.submit(key.clone()).await?;
        if let Some(succeeded) = attempt.as_ref().filter(|a| a.status == "succeeded") {
            let kept = AttemptRow {
                calls: sqlx::types::Json(Value::Null),
                ..succeeded.clone()
            };
            self.state.succeeded_attempts.put(key, kept);
        }
        Ok(attempt)
    }

    /// An unsigned callback: stored, and the attempt it names is re-checked with the provider now.
    async fn hint(
        &self,
        provider: &str,
        reference: &str,
        status: &str,
    ) -> ApiResult<(StatusCode, Json<Value>)> {
        let attempt = match reference.is_empty() {
            true => None,
            false => {
                let merchant = self.account.map(|a| a.merchant_id.as_str());
                self.attempt_by_reference(merchant, provider, reference)
                    .await?
            }
        };
        let dedupe_key = format!("{}:{reference}:{status}", self.scope(attempt.as_ref()));
        let mut tx = crate::db::begin(&self.state.pool).await?;
        let outcome = match &attempt {
            Some(_) => "status re-check queued",
            None => "no Cowry transaction has this reference; recorded only",
        };
        let id = new_id("whr");
        let receipt = NewReceipt {
            dedupe_key: Some(&dedupe_key),
            outcome: Some(outcome),
            ..self.receipt(&id, provider, attempt.as_ref(), "unsigned")
        };
        let first = self.store(&mut *tx, &receipt).await?;
        // A hint about a payment already settled changes nothing: no poll is queued for it.
        let open = attempt.as_ref().is_some_and(|a| {
            crate::domain::settlement::AttemptState::parse(&a.status).is_some_and(|s| s.is_open())
        });
        if let (Some(attempt), true, true) = (&attempt, first, open) {
            reconcile::schedule(
                &mut *tx,
                &attempt.merchant_id,
                &attempt.id,
                chrono::Utc::now(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(acknowledged())
    }
}
