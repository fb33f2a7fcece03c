//! Messages to customers (follow-ups, notices): how long an SMS is (`sms`) and what a reminder says
//! per tone and channel (`reminder`). The channels that send them, and the plan of when, build on
//! these.

pub mod africastalking;
pub mod reminder;
pub mod sms;
