//! Messages to customers (follow-ups, notices): what a reminder says per tone and channel (`reminder`),
//! how long an SMS is (`sms`), and the channels that send them, each behind [`channel::Channel`]:
//! WhatsApp Cloud API (`whatsapp`), Africa's Talking SMS (`africastalking`), SMTP email (`email`).
//! `registry` opens a merchant's configured channel.

pub mod africastalking;
pub mod channel;
pub mod email;
pub mod notice;
pub mod registry;
pub mod reminder;
pub mod sms;
pub mod whatsapp;
