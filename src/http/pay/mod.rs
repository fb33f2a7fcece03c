//! The hosted payment page, `/pay/{token}`: what a customer opens to pay a collection (see `page`).
//! Each collection has an unguessable token of its own, so the page's URL cannot be derived from the
//! merchant's reference.

use crate::domain::ids::random_chars;

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
