//! The pages a person sees in test mode: a provider's hosted checkout (Pay, Decline, Abandon) and the
//! payers' phones (open mobile-money prompts to approve or reject). Server-rendered from askama
//! templates (`templates/emulator/`), with no third-party resources and a strict Content-Security-Policy:
//! no scripts at all, styles and forms from this origin only.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Nothing runs; only this origin's stylesheet loads and only this origin receives the forms.
pub const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; \
                       frame-ancestors 'none'";

#[derive(Template)]
#[template(path = "emulator/checkout.html")]
pub struct Checkout<'a> {
    pub provider: &'a str,
    pub merchant: &'a str,
    pub amount: String,
    pub reference: &'a str,
    pub email: &'a str,
    pub status: &'a str,
    /// Whether the customer can still act (else `outcome` says what happened).
    pub open: bool,
    pub outcome: &'a str,
    /// Where the buttons post: `{action_base}/pay|decline|abandon`.
    pub action_base: String,
}

/// One open prompt on a payer's phone.
pub struct Prompt {
    pub id: String,
    pub payer: String,
    pub amount: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "emulator/prompts.html")]
pub struct Prompts<'a> {
    pub provider: &'a str,
    pub prompts: Vec<Prompt>,
    /// Where the buttons post: `{action_base}/{id}/approve|reject`.
    pub action_base: String,
}

/// The payers' phones for the emulator at `/_emulator/{slug}`: its open prompts, oldest reference first.
pub fn prompts(provider: &str, slug: &str, mut prompts: Vec<Prompt>) -> Response {
    prompts.sort_by(|a, b| a.id.cmp(&b.id));
    html(
        StatusCode::OK,
        &Prompts {
            provider,
            prompts,
            action_base: format!("/_emulator/{slug}/prompts"),
        },
    )
}

/// What a prompt's button asks for: `approve` pays, `reject` declines.
pub fn prompt_answer(action: &str) -> Option<super::Answer> {
    match action {
        "approve" => Some(super::Answer::Pay),
        "reject" => Some(super::Answer::Decline),
        _ => None,
    }
}

/// An HTML answer with the page's security headers.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    html_with(status, page, CSP)
}

/// [`html`] with another Content-Security-Policy (a customer's page whose form goes on to a provider).
pub fn html_with(status: StatusCode, page: &impl Template, csp: &'static str) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(csp),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "an emulator page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page error").into_response()
        }
    }
}

/// A plain HTML error page (pages answer in HTML, not in an API's JSON).
pub fn not_found(what: &str) -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        format!(
            "<!doctype html><title>Not found</title><p>{}</p>",
            escape(what)
        ),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// After a button: back to the page (303, so a reload does not post again).
pub fn back_to(location: &str) -> Response {
    Redirect::to(location).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `/_emulator/assets/emulator.css`: the pages' one stylesheet.
pub fn assets() -> Router {
    Router::new().route(
        "/_emulator/assets/emulator.css",
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=300"),
                ],
                include_str!("../../templates/emulator/emulator.css"),
            )
        }),
    )
}
