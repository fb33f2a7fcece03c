//! `GET /pay/{token}`: the page a customer opens to pay a collection, rendered on the server (askama)
//! and complete without JavaScript: who is asking, how much (formatted for the currency), what for,
//! until when, and every way to pay it: the provider's checkout, the virtual account's bank, number
//! and name, the mobile-money prompt ("send me the prompt"), and a QR code of the page itself. One
//! small script (`/assets/pay.js`, the only one) shows the status as it changes, from
//! `GET /pay/{token}/status`, and adds copy buttons. After payment the page offers a receipt.
//!
//! It shows only what the customer needs: their phone and email masked, no merchant internals (no ids,
//! no provider account names). Nothing third-party loads, and the Content-Security-Policy allows
//! only this origin's stylesheet, script and status endpoint.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::domain::currency::Currency;
use crate::domain::money::Money;
use crate::domain::pay_page::{self, link_alive, mask_email, mask_phone, status_words};
use crate::emulator::pages;
use crate::store::collections::{self as store, CollectionRow};
use crate::AppState;

/// Only this origin's stylesheet, script (and its status requests) and forms.
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
                       img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A collection as its page sees it.
pub struct Found {
    pub merchant_id: String,
    pub merchant: String,
    pub test_mode: bool,
    pub row: CollectionRow,
}

/// The collection behind a live token, or the page to answer instead (404: no such link, or one past
/// its grace period; 503: the database is unavailable).
pub async fn find(state: &AppState, token: &str) -> Result<Found, Response> {
    let gone = || pages::not_found("This payment link is not valid or has expired.");
    if !super::looks_like(token) {
        return Err(gone());
    }
    let owner = store::by_pay_token(&state.pool, token)
        .await
        .map_err(|_| unavailable())?;
    let Some((merchant_id, merchant, mode, id)) = owner else {
        return Err(gone());
    };
    let row = store::get(&state.pool, &merchant_id, &id)
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(gone)?;
    let closed_at = row.completed_at.unwrap_or(row.updated_at);
    if !link_alive(&row.status, closed_at, Utc::now()) {
        return Err(gone());
    }
    Ok(Found {
        merchant_id,
        merchant,
        test_mode: mode == "test",
        row,
    })
}

fn unavailable() -> Response {
    let mut response = pages::not_found("This page is unavailable right now; try again shortly.");
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

fn money(minor: i64, currency: &str) -> String {
    match Currency::parse(currency.trim()) {
        Some(c) => Money::from_minor(minor, c).display(),
        None => format!("{currency} {minor}"),
    }
}

/// The customer's zone: their phone's country's, else Lagos.
fn zone(row: &CollectionRow) -> Tz {
    crate::domain::phone::Phone::parse(&row.contact.phone)
        .ok()
        .and_then(|p| crate::domain::phone::zone_of(p.country_code()))
        .unwrap_or(chrono_tz::Africa::Lagos)
}

fn local(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%-d %b %Y, %H:%M %Z")
        .to_string()
}

/// One way to pay, as the page shows it.
pub struct OptionView {
    pub title: &'static str,
    pub bank: String,
    pub account_number: String,
    pub account_name: String,
    pub text: String,
    pub link: String,
    pub action: &'static str,
    /// Offer "send me the prompt".
    pub prompt: bool,
}

impl OptionView {
    fn new(title: &'static str) -> OptionView {
        OptionView {
            title,
            bank: String::new(),
            account_number: String::new(),
            account_name: String::new(),
            text: String::new(),
            link: String::new(),
            action: "",
            prompt: false,
        }
    }
}

/// The collection's payment options, as the customer reads them; a checkout link shown once.
fn options(row: &CollectionRow, page_url: &str, owed: &str) -> Vec<OptionView> {
    // Providers' instructions may name the customer's phone: the page shows it masked.
    let masked = mask_phone(&row.contact.phone);
    let text = |o: &Value, key: &str| {
        o[key]
            .as_str()
            .unwrap_or_default()
            .replace(&row.contact.phone, &masked)
    };
    let mut seen_links: Vec<String> = vec![page_url.to_owned()];
    let mut shown = Vec::new();
    let payable = row.payable();
    for option in payable["options"].as_array().into_iter().flatten() {
        let link = text(option, "link");
        let new_link = !link.is_empty() && !seen_links.iter().any(|l| link.starts_with(l.as_str()));
        if new_link {
            seen_links.push(link.clone());
        }
        let mut view = match option["method"].as_str() {
            Some("payment_link" | "card") if new_link => {
                let mut view = OptionView::new("Card, bank or wallet");
                view.text = "Pay on the secure checkout.".to_owned();
                view
            }
            Some("virtual_account") => {
                let mut view = OptionView::new("Bank transfer to your account number");
                view.bank = text(option, "bankName");
                view.account_number = text(option, "accountNumber");
                view.account_name = text(option, "accountName");
                view.text = format!("Send {owed} from any bank app.");
                view
            }
            Some("bank_transfer") => {
                let mut view = OptionView::new("Bank transfer");
                view.bank = text(option, "bankName");
                view.account_number = text(option, "accountNumber");
                view.account_name = text(option, "accountName");
                view.text = text(option, "instructions");
                view
            }
            Some("mobile_money") => {
                let mut view = OptionView::new("Mobile money");
                view.text = text(option, "instructions");
                view.prompt = true;
                view
            }
            _ => continue,
        };
        if new_link {
            view.link = link;
            view.action = "Open the checkout";
        }
        shown.push(view);
    }
    shown
}

/// The page's QR code: its own address, as inline SVG.
fn qr(url: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(url.as_bytes()) else {
        return String::new();
    };
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline: without the XML declaration.
    match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => String::new(),
    }
}

#[derive(Template)]
#[template(path = "pages/pay.html")]
struct Page {
    merchant: String,
    test_mode: bool,
    amount: String,
    owed: String,
    purpose: String,
    status: String,
    status_words: &'static str,
    notice: &'static str,
    reference: String,
    expires: String,
    billed_to: String,
    open: bool,
    paid: bool,
    options: Vec<OptionView>,
    sandbox: bool,
    qr: String,
    token: String,
}

/// What a redirect back to the page says (`?m=`): fixed texts, never anything from the request.
fn notice(code: Option<&str>) -> &'static str {
    match code {
        Some("prompt_sent") => "The payment prompt is on its way: approve it on your phone.",
        Some("prompt_pending") => "A payment prompt is already waiting on your phone.",
        Some("prompt_limit") => "Too many prompts for now: try again in an hour.",
        Some("prompt_failed") => {
            "The prompt could not be sent. Try another way to pay, or try again later."
        }
        Some("declined") => "The test payment was declined.",
        _ => "",
    }
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    m: Option<String>,
}

/// The hosted payment page.
pub async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let found = match find(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let row = &found.row;
    let open = matches!(row.status.as_str(), "pending" | "overdue");
    let zone = zone(row);
    let owed_minor = row.amount_minor - row.amount_paid_minor;
    let owed = money(owed_minor, &row.currency);
    let page_url = super::url(&state.config.public_url, &token);
    let billed_to = [
        mask_phone(&row.contact.phone),
        mask_email(&row.contact.email),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" · ");
    let page = Page {
        merchant: found.merchant.clone(),
        test_mode: found.test_mode,
        amount: money(row.amount_minor, &row.currency),
        owed: if open && row.amount_paid_minor > 0 {
            owed.clone()
        } else {
            String::new()
        },
        purpose: pay_page::purpose(row.metadata().as_ref()),
        status: row.status.clone(),
        status_words: status_words(&row.status),
        notice: notice(query.m.as_deref()),
        reference: row.reference.clone(),
        expires: local(row.expires_at, zone),
        billed_to,
        open,
        paid: row.status == "completed",
        options: if open {
            options(row, &page_url, &owed)
        } else {
            Vec::new()
        },
        sandbox: open && found.test_mode && row.provider == "sandbox",
        qr: if open { qr(&page_url) } else { String::new() },
        token,
    };
    pages::html_with(StatusCode::OK, &page, CSP)
}

/// `GET /pay/{token}/status`: what the page's script polls.
pub async fn status(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let found = match find(&state, &token).await {
        Ok(found) => found,
        Err(response) => {
            let code = response.status();
            return (code, Json(json!({"status": "unavailable"}))).into_response();
        }
    };
    let status = found.row.status.as_str();
    let mut response = Json(json!({
        "status": status,
        "label": status_words(status),
        "open": matches!(status, "pending" | "overdue"),
        "paid": status == "completed",
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
    response
}

#[derive(Template)]
#[template(path = "pages/receipt.html")]
struct Receipt {
    merchant: String,
    amount: String,
    reference: String,
    provider_reference: String,
    provider: String,
    paid_at: String,
    purpose: String,
}

/// `GET /pay/{token}/receipt`: what was paid, to whom, when, under which references.
pub async fn receipt(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let found = match find(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let row = &found.row;
    if row.status != "completed" {
        return pages::not_found("There is no receipt yet: this collection is not paid.");
    }
    let paid = store::paid_by(&state.pool, &found.merchant_id, &row.id).await;
    let Ok(paid) = paid else {
        return unavailable();
    };
    let (provider, provider_reference, at) = paid.unwrap_or_else(|| {
        (
            String::new(),
            String::new(),
            row.completed_at.unwrap_or(row.updated_at),
        )
    });
    let receipt = Receipt {
        merchant: found.merchant.clone(),
        amount: money(row.amount_paid_minor.max(row.amount_minor), &row.currency),
        reference: row.reference.clone(),
        provider_reference,
        provider: provider_name(&provider),
        paid_at: local(row.completed_at.unwrap_or(at), zone(row)),
        purpose: pay_page::purpose(row.metadata().as_ref()),
    };
    pages::html_with(StatusCode::OK, &receipt, CSP)
}

/// How a provider is named to a customer: by its kind, never by the merchant's own account names.
fn provider_name(kind: &str) -> String {
    match kind {
        "paystack" => "Paystack",
        "mtn_momo" => "MTN Mobile Money",
        "airtel_money" => "Airtel Money",
        "dollr" => "Dollr",
        "sandbox" => "Cowry sandbox",
        _ => "Bank or wallet",
    }
    .to_owned()
}

/// `/assets/pay.js`: the page's one script.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../templates/pages/pay.js"),
    )
        .into_response()
}
