//! Messages to customers (follow-ups, notices). So far: how long an SMS is (`sms`), which every SMS
//! template is measured by; the channels and their templates build on it.

pub mod sms;
