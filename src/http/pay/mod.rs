//! The hosted payment page, `/pay/{token}`: what a customer opens to pay a collection (see `page`),
//! and what its buttons do (`actions`). Each collection has an unguessable token of its own, so the
//! page's URL cannot be derived from the merchant's reference.

pub mod actions;
pub mod page;

use axum::routing::{get, post};
use axum::Router;

use crate::domain::ids::random_chars;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pay/{token}", get(page::page))
        .route("/pay/{token}/status", get(page::status))
        .route("/pay/{token}/receipt", get(page::receipt))
        .route("/pay/{token}/prompt", post(actions::prompt))
        .route("/pay/{token}/sandbox/{action}", post(actions::sandbox))
        .route("/assets/pay.js", get(page::script))
        // Browsers ask every page's origin for one; the pages have none (and no error for its absence).
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new page token: `pt_` and 24 random base-62 characters (143 bits).
pub fn new_token() -> String {
    format!("pt_{}", random_chars(24, BASE62).collect::<String>())
}

/// Whether `token` could be one [`new_token`] made (anything else is refused before any query).
pub fn looks_like(token: &str) -> bool {
    token
        .strip_prefix("pt_")
        .is_some_and(|rest| rest.len() == 24 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The page's address under `COWRY_PUBLIC_URL`.
pub fn url(public_url: &str, token: &str) -> String {
    format!("{}/pay/{token}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unguessable_and_checked_before_use() {
        let token = new_token();
        assert!(looks_like(&token), "{token}");
        assert_ne!(token, new_token());
        assert!(!looks_like("PSK_txn_8a7f34"));
        assert!(!looks_like("pt_short"));
        assert_eq!(
            url("http://localhost:8080/", "pt_x"),
            "http://localhost:8080/pay/pt_x"
        );
    }
}
