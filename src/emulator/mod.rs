//! In-process emulators that speak each provider's wire protocol, mounted at `/_emulator/{provider}/…`
//! for test mode. An emulator is written from the provider's documents on its own: it never imports an
//! adapter's code or wire types, so a misreading on either side shows up as a failing test instead of
//! two halves agreeing with themselves.
//!
//! State is kept in memory, per process: emulated transactions are scaffolding for test mode, need no
//! durability (a restart is a sandbox reset) and stay out of Cowry's schema. Outcomes are chosen by
//! documented magic values (see README).

pub mod africastalking;
pub mod airtel_money;
pub mod dollr;
pub mod mona;
pub mod mtn_momo;
pub mod pages;
pub mod paystack;
pub mod whatsapp;

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

/// Largest request body an emulator reads (provider requests are small; anything larger is abuse).
const BODY_LIMIT: usize = 64 * 1024;

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
        .nest("/_emulator/africastalking", africastalking::router())
        .nest("/_emulator/whatsapp", whatsapp::router())
        .merge(pages::assets())
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
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

/// An emulator's in-memory table, bounded: past `cap` entries the oldest is dropped, so anonymous
/// traffic cannot grow a process without end (a dropped emulated payment is a sandbox reset for it).
pub struct Capped<K, V> {
    map: std::collections::HashMap<K, V>,
    order: std::collections::VecDeque<K>,
    cap: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V> Capped<K, V> {
    pub fn new(cap: usize) -> Capped<K, V> {
        Capped {
            map: std::collections::HashMap::new(),
            order: std::collections::VecDeque::new(),
            cap,
        }
    }

    pub fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.cap {
                if let Some(oldest) = self.order.pop_front() {
                    self.map.remove(&oldest);
                }
            }
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map.get_mut(key)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// The entry for `key`, made with `make` if there is none yet.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) {
            self.insert(key.clone(), make());
        }
        self.map.get_mut(&key).expect("just inserted")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl<K: std::hash::Hash + Eq + Clone, V> Default for Capped<K, V> {
    fn default() -> Capped<K, V> {
        Capped::new(EMULATOR_ENTRIES)
    }
}

/// How many entries each emulator table keeps.
pub const EMULATOR_ENTRIES: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::Capped;

    #[test]
    fn a_capped_table_drops_its_oldest_entries() {
        let mut table = Capped::new(3);
        for n in 0..5 {
            table.insert(n, n * 10);
        }
        assert_eq!(table.len(), 3);
        assert!(!table.contains_key(&0) && !table.contains_key(&1));
        assert_eq!(table.get(&4), Some(&40));
        table.insert(4, 41);
        assert_eq!((table.len(), table.get(&2)), (3, Some(&20)));
    }

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
