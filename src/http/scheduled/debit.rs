//! `POST /collections/{id}/debit`: a merchant-triggered debit of a consented `MERCHANT` collection. The
//! limits are checked and the debit claimed under the mandate's row lock (`jobs::debit::claim`), the
//! authorization charged, and what Paystack said recorded; a retry with the same `Idempotency-Key`
//! after the claim answers from the stored debit and never charges again.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::view::ScheduledEnvelope;
use crate::domain::time;
use crate::domain::validate::{self as v, FieldErrors};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::idempotent::{self, Begin, Keyed};
use crate::jobs::debit::{self, Ask, Refused};
use crate::store::merchants::MerchantContext;
use crate::store::scheduled::{self as store, DebitRow};
use crate::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DebitView {
    #[schema(example = "dbt_9fmz6170pzaih14pmyl0a49o1l")]
    pub id: String,
    pub collection_id: String,
    pub reference: String,
    /// Minor units, as a string.
    #[schema(example = "50000")]
    pub amount: String,
    pub currency: String,
    /// pending (sent; the bank has not answered), succeeded, failed, or unknown (the answer was lost;
    /// Cowry is asking Paystack).
    #[schema(example = "succeeded")]
    pub status: String,
    /// hard (the mandate is no longer usable: the collection is REVOKED) or soft.
    pub failure_class: Option<String>,
    pub failure_reason: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
}

impl From<DebitRow> for DebitView {
    fn from(row: DebitRow) -> DebitView {
        DebitView {
            id: row.id,
            collection_id: row.collection_id,
            reference: row.reference,
            amount: row.amount_minor.to_string(),
            currency: row.currency.trim().to_owned(),
            status: row.status,
            failure_class: row.failure_class,
            failure_reason: row.failure_reason,
            created_at: row.created_at,
        }
    }
}

pub async fn create(
    state: &AppState,
    merchant: &MerchantContext,
    key: Option<&str>,
    id: &str,
    body: &JsonBody,
) -> ApiResult<Response> {
    let merchant_id = merchant.merchant_id.as_str();
    let (amount, reference) = parse(&body.value).map_err(ApiError::Validation)?;
    let Some(row) = store::mandate(&state.pool, merchant_id, id).await? else {
        return Err(ApiError::NotFound("no collection with this id".to_owned()));
    };
    if row.debit_type != "MERCHANT" {
        return Err(ApiError::Conflict {
            code: "invalid_state",
            message: "this collection's schedule runs by itself (debitType MONA): it takes no merchant debits"
                .to_owned(),
        });
    }
    let path = format!("/collections/{id}/debit");
    let fingerprint: [&[u8]; 3] = [b"POST", path.as_bytes(), &body.raw];
    let keyed = Keyed {
        merchant_id,
        key,
        fingerprint: &fingerprint,
        stale_after: state.config.request_timeout * 2,
    };
    match idempotent::begin(&state.pool, &keyed).await? {
        Begin::Answer(response) => return Ok(response),
        Begin::Resume(recovery) => {
            let debit_id = recovery["debit"].as_str().unwrap_or_default();
            return answer(state, merchant_id, debit_id, true).await;
        }
        Begin::Go => {}
    }
    let reference = reference.unwrap_or_else(|| format!("debit-{}", uuid::Uuid::new_v4().simple()));
    let claimed = async {
        let mut tx = crate::db::begin(&state.pool).await?;
        let ask = Ask {
            merchant_id,
            collection_id: id,
            amount,
            reference: &reference,
            installment: None,
            check_interval: true,
            first_poll: debit::first_poll(state),
            clock: &state.clock,
        };
        let claimed = match debit::claim(&mut tx, &ask).await? {
            Ok(claimed) => claimed,
            Err(refused) => return Err(refusal(refused)),
        };
        if let Some(key) = key {
            crate::store::idempotency::set_recovery(
                &mut tx,
                merchant_id,
                key,
                &json!({"debit": claimed.debit_id}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    };
    let claimed = match claimed.await {
        Ok(claimed) => claimed,
        Err(e) => {
            idempotent::give_back(&state.pool, &keyed).await;
            return Err(e);
        }
    };
    debit::charge_and_record(state, merchant_id, id, &claimed, None).await?;
    let body = stored_body(state, merchant_id, &claimed.debit_id).await?;
    if let Some(key) = key {
        let mut conn = state.pool.acquire().await?;
        crate::store::idempotency::save(&mut conn, merchant_id, key, 201, &body).await?;
    }
    Ok(idempotent::stored_response(
        StatusCode::CREATED,
        body,
        false,
    ))
}

fn refusal(refused: Refused) -> ApiError {
    match refused {
        Refused::NotFound => ApiError::NotFound("no collection with this id".to_owned()),
        Refused::NotActive(status) => ApiError::Conflict {
            code: "invalid_state",
            message: format!(
                "the collection is {status}: debits need a consented, ACTIVE collection"
            ),
        },
        Refused::Limit(limit, message) => {
            ApiError::LimitExceeded(vec![crate::domain::validate::FieldError {
                field: limit.to_owned(),
                message,
            }])
        }
        Refused::DuplicateReference => ApiError::Conflict {
            code: "duplicate_reference",
            message: "this collection already has a debit with this reference".to_owned(),
        },
    }
}

/// The debit as stored, as the 201 body.
async fn stored_body(state: &AppState, merchant_id: &str, debit_id: &str) -> ApiResult<Vec<u8>> {
    let row = store::debit(&state.pool, merchant_id, debit_id)
        .await?
        .ok_or_else(|| ApiError::internal("a claimed debit vanished"))?;
    Ok(ScheduledEnvelope::new(DebitView::from(row)).to_bytes())
}

async fn answer(
    state: &AppState,
    merchant_id: &str,
    debit_id: &str,
    replayed: bool,
) -> ApiResult<Response> {
    let body = stored_body(state, merchant_id, debit_id).await?;
    Ok(idempotent::stored_response(
        StatusCode::CREATED,
        body,
        replayed,
    ))
}

/// `{"amount": "50000", "reference"?: "…"}`: minor units as a string, like the rest of the document.
fn parse(body: &Value) -> Result<(i64, Option<String>), Vec<crate::domain::validate::FieldError>> {
    let mut errors = FieldErrors::default();
    let Some(object) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors.into_vec());
    };
    let amount = match v::get(object, "amount") {
        None => {
            errors.add("amount", "is required");
            None
        }
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            match s.parse::<i64>() {
                Ok(0) => {
                    errors.add("amount", "must be greater than 0");
                    None
                }
                Ok(n) => Some(n),
                Err(_) => {
                    errors.add("amount", "is too large");
                    None
                }
            }
        }
        Some(_) => {
            errors.add(
                "amount",
                "must be a string of minor units (e.g. \"50000\" for NGN 500.00)",
            );
            None
        }
    };
    let reference = v::nonblank_if_given(object, "reference", "", 128, &mut errors);
    errors.finish(|| (amount.expect("checked"), reference))
}
