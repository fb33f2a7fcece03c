//! In-process emulators that speak each provider's wire protocol, mounted at `/_emulator/{provider}/…`
//! for test mode. An emulator is written from the provider's documents on its own: it never imports an
//! adapter's code or wire types, so a misreading on either side shows up as a failing test instead of
//! two halves agreeing with themselves.
//!
//! State is kept in memory, per process: emulated transactions are scaffolding for test mode, need no
//! durability (a restart is a sandbox reset) and stay out of Cowry's schema. Outcomes are chosen by
//! documented magic values (see README).

pub mod airtel_money;
pub mod dollr;
pub mod mona;
pub mod mtn_momo;
pub mod pages;
pub mod paystack;

use std::time::Duration;

use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha512;

/// How emulated providers behave.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where emulated webhooks are sent, per provider slug (e.g. `…/webhooks/paystack`).
    pub webhook_base: String,
    /// How long after a request an emulated payment settles.
    pub settle_delay: Duration,
    /// The emulator's own base URL, for links it hands out.
    pub public_base: String,
    /// Whether a checkout or prompt with no magic ending settles by itself after `settle_delay` (`true`:
    /// tests and benchmarks) or waits for a person on its page (`false`: the two-command start).
    pub autosettle: bool,
}

/// What a person does on an emulated checkout or phone prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Pay / approve.
    Pay,
    /// Decline / reject.
    Decline,
    /// Leave the checkout (Paystack `abandoned`; the link stays payable).
    Abandon,
}

pub fn router(config: EmulatorConfig) -> Router {
    Router::new()
        .nest("/_emulator/paystack", paystack::router(config.clone()))
        .nest("/_emulator/mtn_momo", mtn_momo::router(config.clone()))
        .nest(
            "/_emulator/airtel_money",
            airtel_money::router(config.clone()),
        )
        .nest("/_emulator/dollr", dollr::router(config))
        .nest("/_emulator/mona", mona::router())
        .merge(pages::assets())
}

/// What the emulators do with a payment, chosen by the last two digits of an amount in minor units
/// (Paystack) or the last four digits of the payer's number (mobile money).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeed,
    /// `…01`: the payment fails with the provider's real failure reason.
    Fail,
    /// `…02`: the payment stays pending and never settles.
    StayPending,
    /// `…03`: the payment succeeds but no callback is ever sent.
    SucceedSilently,
    /// `…04`: the first request answers 500; a retry goes through.
    ErrorFirst,
    /// `…0005` (MoMo): succeeds without a callback, but the first status enquiries answer 500.
    StatusErrors,
    /// `…0006` (MoMo): succeeds, but for one unit less than was asked.
    WrongAmount,
}

impl Outcome {
    pub fn from_minor(amount: i64) -> Outcome {
        match amount % 100 {
            1 => Outcome::Fail,
            2 => Outcome::StayPending,
            3 => Outcome::SucceedSilently,
            4 => Outcome::ErrorFirst,
            _ => Outcome::Succeed,
        }
    }

    /// `…0001` fails, `…0002` stays pending, `…0003` never calls back, `…0004` errors first,
    /// `…0005` fails its status enquiries at first, `…0006` pays the wrong amount.
    pub fn from_phone(digits: &str) -> Outcome {
        let last = digits
            .get(digits.len().saturating_sub(4)..)
            .unwrap_or_default();
        match last {
            "0001" => Outcome::Fail,
            "0002" => Outcome::StayPending,
            "0003" => Outcome::SucceedSilently,
            "0004" => Outcome::ErrorFirst,
            "0005" => Outcome::StatusErrors,
            "0006" => Outcome::WrongAmount,
            _ => Outcome::Succeed,
        }
    }
}

/// Hex HMAC-SHA512 of `body` keyed with `secret`, as Paystack signs its webhooks.
pub fn hmac_sha512_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_amounts_choose_outcomes() {
        assert_eq!(Outcome::from_minor(4_500_000), Outcome::Succeed);
        assert_eq!(Outcome::from_minor(4_500_001), Outcome::Fail);
        assert_eq!(Outcome::from_minor(102), Outcome::StayPending);
        assert_eq!(Outcome::from_minor(203), Outcome::SucceedSilently);
        assert_eq!(Outcome::from_minor(304), Outcome::ErrorFirst);
        assert_eq!(Outcome::from_phone("256772120001"), Outcome::Fail);
        assert_eq!(Outcome::from_phone("256772120002"), Outcome::StayPending);
        assert_eq!(
            Outcome::from_phone("256772120003"),
            Outcome::SucceedSilently
        );
        assert_eq!(Outcome::from_phone("256772120004"), Outcome::ErrorFirst);
        assert_eq!(Outcome::from_phone("256772123456"), Outcome::Succeed);
        assert_eq!(Outcome::from_phone("1"), Outcome::Succeed);
    }
}
