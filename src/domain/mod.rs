//! Pure types and rules: no I/O here, so everything is unit-tested directly.

pub mod channel_settings;
pub mod collect;
pub mod collection;
pub mod currency;
pub mod events;
pub mod followup;
pub mod ids;
pub mod integrated;
pub mod json_keys;
pub mod learning;
pub mod money;
pub mod network;
pub mod nuban;
pub mod outbound_url;
pub mod pay_page;
pub mod phone;
pub mod provider_account;
pub mod schedule;
pub mod scheduled;
pub mod secretbox;
pub mod settlement;
pub mod time;
pub mod transfer;
pub mod validate;
