//! The customer's consent page, `GET /consent/{token}` (the collection's `consentUrl`): what they
//! authorize in plain words, who they are (prefilled from the contact), and a button that starts the
//! provider's authorization. `POST /consent/{token}` asks Paystack for a direct-debit mandate
//! (`/customer/authorization/initialize`) and sends the customer to Paystack's page; Paystack brings
//! them back to `/consent/{token}/done`, where Cowry asks Paystack where the mandate stands. The
//! `direct_debit.authorization.active` webhook and the `consent` poll report the same thing by other
//! roads; whichever comes first consents, the others find it done.
//!
//! Server-rendered, no scripts, nothing from another origin; the form may go on to the provider (an
//! `https:` form target), and nothing else.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::DateTime;
use chrono_tz::Tz;

use super::authorize;
use crate::domain::currency::Currency;
use crate::domain::money::Money;
use crate::domain::scheduled;
use crate::emulator::pages;
use crate::jobs::{consent, mandate};
use crate::store::scheduled::{self as store, MandateRow};
use crate::AppState;

const CSP: &str =
    "default-src 'none'; style-src 'self'; form-action 'self' https:; base-uri 'none'; \
                   frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/consent/{token}", get(page).post(start))
        .route("/consent/{token}/done", get(done))
        .route("/assets/pages.css", get(stylesheet))
}

#[derive(Template)]
#[template(path = "pages/consent.html")]
struct Consent {
    merchant: String,
    summary: String,
    maximum: String,
    monthly: String,
    schedule: String,
    start: String,
    expiry: String,
    reference: String,
    status: String,
    message: String,
    open: bool,
    token: String,
    name: String,
    email: String,
    phone: String,
    provider: &'static str,
    /// The bank (direct-debit) rail is offered (NGN).
    bank: bool,
    /// The card rail's verification charge, shown (empty: no card rail for the currency).
    card_charge: String,
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        // One look for every page a person sees: the emulator pages' rules, then the customer pages'.
        concat!(
            include_str!("../../../templates/emulator/emulator.css"),
            include_str!("../../../templates/pages/pages.css")
        ),
    )
        .into_response()
}

fn looks_like_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

async fn find(state: &AppState, token: &str) -> Result<Option<(MandateRow, String)>, Response> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    let row = store::by_token(&state.pool, token)
        .await
        .map_err(|_| unavailable())?;
    let Some(row) = row else { return Ok(None) };
    let merchant: Option<String> = sqlx::query_scalar("select name from merchants where id = $1")
        .bind(&row.merchant_id)
        .fetch_optional(&state.pool)
        .await
        .map_err(|_| unavailable())?;
    Ok(Some((row, merchant.unwrap_or_default())))
}

fn unavailable() -> Response {
    let mut response = pages::not_found("This page is unavailable right now; try again shortly.");
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match find(&state, &token).await {
        Ok(Some((row, merchant))) => render(&row, &merchant, ""),
        Ok(None) => pages::not_found("This authorization link is not valid."),
        Err(response) => response,
    }
}

/// `NGN 6.00`: every minor digit shown, as a customer reads an amount.
fn money(minor: i64, currency: &str) -> String {
    match Currency::parse(currency.trim()) {
        Some(c) => {
            let major = Money::from_minor(minor, c).major_string();
            let exponent = c.exponent() as usize;
            let shown = match (exponent, major.split_once('.')) {
                (0, _) => major,
                (_, Some((whole, fraction))) => format!("{whole}.{fraction:0<exponent$}"),
                (_, None) => format!("{major}.{}", "0".repeat(exponent)),
            };
            format!("{} {shown}", c.code())
        }
        None => format!("{currency} {minor}"),
    }
}

/// The schedule in plain words, in the collection's zone.
fn describe(row: &MandateRow, zone: Tz) -> String {
    let plan = mandate::plan_of(row);
    let day = |at: &DateTime<chrono::Utc>| {
        at.with_timezone(&zone)
            .format("%-d %B %Y, %H:%M")
            .to_string()
    };
    let mut parts = Vec::new();
    if let Some((frequency, amount)) = plan.recurring {
        parts.push(format!(
            "{} {} from {}",
            money(amount, &row.currency),
            frequency.as_str().to_lowercase(),
            day(&plan.start)
        ));
    }
    for (at, amount) in plan.entries.iter().take(12) {
        parts.push(format!("{} on {}", money(*amount, &row.currency), day(at)));
    }
    if plan.entries.len() > 12 {
        parts.push(format!("and {} more dated debits", plan.entries.len() - 12));
    }
    if row.debit_type == "MERCHANT" {
        parts.push("each debit started by the merchant, within these limits".to_owned());
    }
    parts.join("; ")
}

fn render(row: &MandateRow, merchant: &str, message: &str) -> Response {
    let zone = scheduled::zone(&row.time_zone).unwrap_or(scheduled::DEFAULT_ZONE);
    let when = |at: &DateTime<chrono::Utc>| {
        at.with_timezone(&zone)
            .format("%-d %B %Y, %H:%M %Z")
            .to_string()
    };
    let open = row.status == "NOT_STARTED"
        && row.consent_stage != "active"
        && row.provider_kind == "paystack";
    let status = match (row.status.as_str(), row.consent_stage.as_str()) {
        ("NOT_STARTED", "authorized") => {
            "Approved: your bank is activating the mandate (this can take a day)".to_owned()
        }
        ("NOT_STARTED", _) if row.provider_kind == "mona" => format!(
            "Waiting for you to approve in the Mona app (request {})",
            row.provider_reference.as_deref().unwrap_or("pending")
        ),
        ("NOT_STARTED", _) => "Waiting for your authorization".to_owned(),
        ("ACTIVE", _) if row.consent_rail == "card" => "Authorized (card)".to_owned(),
        ("ACTIVE", _) => "Authorized (bank account)".to_owned(),
        (other, _) => other.to_lowercase().replace('_', " "),
    };
    let name = [row.first_name.as_deref(), row.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let bank = row.currency.trim() == "NGN";
    let source = match (row.consent_rail.as_str(), row.consent_stage.as_str(), bank) {
        ("card", stage, _) if stage != "none" => "your card",
        ("direct_debit", stage, _) if stage != "none" => "your bank account",
        (_, _, true) => "your bank account or card",
        _ => "your card",
    };
    let summary = format!(
        "{merchant} asks to collect from {source}: at most {} per debit and {} per calendar month, between {} and {}.",
        money(row.maximum_minor, &row.currency),
        money(row.monthly_limit_minor, &row.currency),
        when(&row.start_at),
        when(&row.expires_at),
    );
    pages::html_with(
        StatusCode::OK,
        &Consent {
            merchant: merchant.to_owned(),
            summary,
            maximum: money(row.maximum_minor, &row.currency),
            monthly: money(row.monthly_limit_minor, &row.currency),
            schedule: describe(row, zone),
            start: when(&row.start_at),
            expiry: when(&row.expires_at),
            reference: row.reference.clone(),
            status,
            message: message.to_owned(),
            open,
            token: row.token.clone(),
            name,
            email: row
                .customer_email
                .clone()
                .or(row.email.clone())
                .unwrap_or_default(),
            phone: row.phone.clone().unwrap_or_default(),
            provider: "Paystack",
            bank,
            card_charge: scheduled::card_verification_minor(row.currency.trim())
                .map(|minor| money(minor, &row.currency))
                .unwrap_or_default(),
        },
        CSP,
    )
}

#[derive(serde::Deserialize)]
struct Form {
    #[serde(default)]
    email: String,
    /// `direct_debit` (the default) or `card`.
    #[serde(default)]
    rail: String,
}

/// The button: start the authorization at Paystack on the chosen rail and send the customer there.
async fn start(State(state): State<AppState>, Path(token): Path<String>, body: Bytes) -> Response {
    let (row, merchant) = match find(&state, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return pages::not_found("This authorization link is not valid."),
        Err(response) => return response,
    };
    let form = serde_urlencoded::from_bytes::<Form>(&body).unwrap_or(Form {
        email: String::new(),
        rail: String::new(),
    });
    let email = form.email.trim();
    if !(email_address::EmailAddress::is_valid(email) && email.contains('.')) {
        return render(&row, &merchant, "Enter a valid email address.");
    }
    if row.status != "NOT_STARTED" || row.provider_kind != "paystack" {
        return render(&row, &merchant, "");
    }
    let started = match form.rail.as_str() {
        "card" => authorize::card(&state, &row, email, &merchant).await,
        "" | "direct_debit" if row.currency.trim() == "NGN" => {
            authorize::direct_debit(&state, &row, email).await
        }
        _ => Err("Choose how to pay: this mandate cannot use that method.".to_owned()),
    };
    match started {
        Ok(redirect_url) => see_other(&redirect_url),
        Err(message) => render(&row, &merchant, &message),
    }
}

fn see_other(location: &str) -> Response {
    let mut response = Redirect::to(location).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Where Paystack sends the customer back: ask Paystack now, then show the page.
async fn done(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (row, _) = match find(&state, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return pages::not_found("This authorization link is not valid."),
        Err(response) => return response,
    };
    // Approved already (Paystack's `created` event came first) still asks: the mandate may be active
    // by now and its webhook lost.
    if row.status == "NOT_STARTED"
        && matches!(row.consent_stage.as_str(), "requested" | "authorized")
    {
        if let Err(e) = consent::check(&state, &row, "return").await {
            tracing::info!(error = %e, "mandate not confirmed on return; the poll goes on");
        }
    }
    see_other(&format!("/consent/{token}"))
}
