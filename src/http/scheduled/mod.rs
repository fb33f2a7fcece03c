//! Scheduled collections over HTTP: create (dispatched from `POST /collections`), merchant debits,
//! cancel, and the customer's consent page.

pub mod authorize;
pub mod cancel;
pub mod consent;
pub mod create;
pub mod debit;
pub mod view;
