//! HTTP-level tests: the whole server on a loopback port against a real PostgreSQL, a fresh database per
//! test (#[sqlx::test]).

mod common;

mod airtel_money;
mod auth;
mod browser;
mod channels;
mod clients;
mod collect;
mod connections;
mod contacts;
mod contract;
mod crash;
mod create;
mod create_paystack;
mod dollr;
mod errors;
mod fault_proxy;
mod faults;
mod followups;
mod group_commit;
mod idempotency;
mod lifecycle;
mod list;
mod logs;
mod merchant_webhooks;
mod mona;
mod mtn_momo;
mod operators;
mod paystack;
mod process;
mod provider_http;
mod providers;
mod queue;
mod receiver;
mod scheduled;
mod scheduled_answers;
mod scheduled_clock;
mod scheduled_consent;
mod scheduled_workers;
mod security;
mod tls;
mod transfers;
mod webhooks;
