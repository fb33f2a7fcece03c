//! Request bodies and filters as the document shows them. Documentation only: handlers validate the
//! raw JSON so they can report every bad field at once, and these schemas carry the same constraints
//! (patterns, lengths, enums, minimums), so a body valid here is accepted there.

use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /collections` body (integrated). Documentation only: the handler validates the raw JSON so it
/// can report every bad field at once.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CreateCollectionRequest {
    /// "integrated" (the default).
    #[serde(rename = "type")]
    #[schema(example = "integrated", pattern = "^integrated$")]
    kind: Option<String>,
    /// Unique within your account; letters, digits and - _ . = : (at most 100).
    #[schema(
        example = "PSK_txn_8a7f34",
        min_length = 1,
        max_length = 100,
        pattern = "^[A-Za-z0-9_.=:-]+$"
    )]
    reference: String,
    amount: AmountRequest,
    contact: ContactRequest,
    /// An object or a non-empty array of objects; each carries a non-empty `description` (up to 16 KiB
    /// of JSON, no control characters in any string).
    metadata: Option<MetadataRequest>,
    /// Minutes until the collection expires: 1 to 525600, default 1440.
    #[schema(example = 1440, minimum = 1, maximum = 525600)]
    expires_in: Option<i64>,
    payable: Option<PayableRequest>,
    /// Slug from your providers list; default: your default provider.
    #[schema(
        example = "paystack",
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    provider: Option<String>,
    /// Without it Cowry plans the follow-ups itself and shows the plan (`followUp.planned: true`).
    follow_up: Option<FollowUpRequest>,
    /// When the collection becomes `overdue` if unpaid: after now, at or before its expiry. Default:
    /// three quarters of the way from creation to expiry.
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-11-28T18:00:00+01:00")]
    due_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AmountRequest {
    /// Major units (45000 = ₦45,000.00), at most as many decimals as the currency has.
    #[schema(value_type = f64, example = 45000, exclusive_minimum = 0)]
    value: serde_json::Number,
    /// ISO 4217, e.g. NGN, GHS, KES, UGX, USD.
    #[schema(
        example = "NGN",
        pattern = "^(NGN|GHS|KES|UGX|RWF|TZS|ZAR|ZMW|XOF|XAF|EGP|MAD|ETB|MWK|CDF|BWP|GNF|BIF|SLE|MZN|USD|EUR|GBP)$"
    )]
    currency: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ContactRequest {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$",
        example = "Amina"
    )]
    first_name: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$",
        example = "Lawal"
    )]
    last_name: String,
    /// E.164 with country code; must be a valid number for its country.
    #[schema(example = "+2348012345678", pattern = "^\\+[0-9]{7,15}$")]
    phone: String,
    #[schema(format = Email, max_length = 254, example = "amina.lawal@example.com")]
    email: String,
}

/// Collection states, for the `status` filter.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CollectionStatus {
    Pending,
    Overdue,
    Completed,
    Cancelled,
    Expired,
    #[schema(rename = "NOT_STARTED")]
    NotStarted,
    #[schema(rename = "ACTIVE")]
    Active,
    #[schema(rename = "COMPLETED")]
    ScheduledCompleted,
    #[schema(rename = "EXPIRED")]
    ScheduledExpired,
    #[schema(rename = "CANCELLED")]
    ScheduledCancelled,
    #[schema(rename = "REVOKED")]
    Revoked,
}

/// Mobile-money collect states, for the `status` filter.
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub enum CollectStatus {
    PENDING,
    SUCCESS,
    FAILED,
    #[allow(non_camel_case_types)]
    ROLLED_BACK,
}

/// Provider attempt states, for the operators' `status` filter.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum AttemptStatus {
    Created,
    Pending,
    Unknown,
    Succeeded,
    Failed,
    Flagged,
    Reversed,
}

/// Job states, for the operators' `status` filter.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum JobStatus {
    Queued,
    Failed,
}

/// Collection types, for the `type` filter.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CollectionType {
    Integrated,
    Scheduled,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PayableRequest {
    /// Default false.
    enabled: Option<bool>,
    methods: Option<Vec<PaymentMethod>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PaymentMethod {
    PaymentLink,
    VirtualAccount,
    MobileMoney,
    Card,
    BankTransfer,
}

/// `metadata`: free-form, with a `description` the customer sees.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum MetadataRequest {
    One(MetadataItem),
    /// Not empty.
    Many(Vec<MetadataItem>),
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct MetadataItem {
    /// What the payment is for.
    #[schema(
        example = "Invoice 1042",
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    description: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct FollowUpRequest {
    /// Enabled follow-ups need at least one channel.
    enabled: Option<bool>,
    /// Minutes before the first follow-up (default 0).
    #[schema(minimum = 0, maximum = 525600)]
    start_after: Option<i64>,
    /// Default daily.
    cadence: Option<Cadence>,
    channels: Option<Vec<Channel>>,
    /// Default professional.
    tone: Option<Tone>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Cadence {
    #[serde(rename = "every_5m")]
    Every5m,
    #[serde(rename = "every_10m")]
    Every10m,
    #[serde(rename = "every_15m")]
    Every15m,
    #[serde(rename = "every_30m")]
    Every30m,
    #[serde(rename = "every_1h")]
    Every1h,
    #[serde(rename = "every_2h")]
    Every2h,
    #[serde(rename = "every_4h")]
    Every4h,
    #[serde(rename = "every_6h")]
    Every6h,
    #[serde(rename = "every_12h")]
    Every12h,
    Daily,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Channel {
    Whatsapp,
    Sms,
    Email,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Tone {
    Gentle,
    Professional,
    Urgent,
}

/// `POST /collections/collect` body (mobile money).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CollectRequest {
    /// The payer's number with its country code (E.164), e.g. `+256706859041`: a mobile number of a
    /// network Cowry knows.
    #[schema(example = "+256706859041", pattern = "^\\s*\\+[0-9]{7,15}\\s*$")]
    phone: String,
    /// Major units, greater than 0; whole units for zero-decimal currencies (UGX, RWF).
    #[schema(value_type = f64, example = 500, exclusive_minimum = 0)]
    amount: serde_json::Number,
    /// Optional; must be the payer's country's currency (UGX for +256).
    #[schema(
        example = "UGX",
        pattern = "^(NGN|GHS|KES|UGX|RWF|TZS|ZAR|ZMW|XOF|XAF|EGP|MAD|ETB|MWK|CDF|BWP|GNF|BIF|SLE|MZN|USD|EUR|GBP)$"
    )]
    currency: Option<String>,
    /// Your reference; unique per merchant when given.
    #[schema(max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    external_id: Option<String>,
    #[schema(max_length = 160, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    payer_message: Option<String>,
    #[schema(max_length = 160, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    payee_note: Option<String>,
    /// A provider slug from your list; by default the payer's network picks the account.
    #[schema(max_length = 40, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    provider: Option<String>,
}

/// `POST /admin/merchants` body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CreateMerchantRequest {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$",
        example = "Acme"
    )]
    name: String,
    /// `test` (default: emulated providers) or `live` (a business going live gets a merchant of its own).
    mode: Option<MerchantMode>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum MerchantMode {
    Test,
    Live,
}

/// `POST /api-keys/roll` body (may be `{}`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RollKeyRequest {
    /// How long the key this request is made with keeps working: 0 (end it now) to a week; default a day.
    #[schema(minimum = 0, maximum = 604800, example = 86400)]
    overlap_seconds: Option<u64>,
}

/// `PUT /admin/merchants/{id}/rate-limit` body.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RateLimitRequest {
    /// Requests per second per API key (0: unlimited); `null`: back to the server's default.
    #[schema(minimum = 0, maximum = 1000000)]
    per_second: Option<u64>,
    /// Default: perSecond × 2.
    #[schema(minimum = 1, maximum = 1000000)]
    burst: Option<u64>,
}

/// `POST /webhook-endpoints` body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EndpointRequest {
    /// Where to POST events: http(s), https for a live merchant, no user name or password.
    #[schema(
        example = "https://merchant.example.com/cowry/events",
        max_length = 2048,
        pattern = "^\\s*https?://[^\\s/@]+(/[^\\s]*)?\\s*$"
    )]
    url: String,
    /// The types to receive; leave out (or null) for every type.
    events: Option<Vec<crate::http::openapi::EventType>>,
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    description: Option<String>,
}

/// `PATCH /webhook-endpoints/{id}` body: any of these.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EndpointChange {
    #[schema(max_length = 2048, pattern = "^\\s*https?://[^\\s/@]+(/[^\\s]*)?\\s*$")]
    url: Option<String>,
    events: Option<Vec<crate::http::openapi::EventType>>,
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    description: Option<String>,
    /// false stops deliveries; true starts them again (and clears the failure streak).
    enabled: Option<bool>,
}

/// `POST /webhook-endpoints/{id}/replay` body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReplayRequest {
    /// RFC 3339, inclusive.
    #[schema(example = "2026-11-27T00:00:00Z")]
    from: chrono::DateTime<chrono::Utc>,
    /// RFC 3339, inclusive; not before `from`.
    #[schema(example = "2026-11-27T23:59:59Z")]
    to: chrono::DateTime<chrono::Utc>,
}

/// Delivery states, for the `status` filter.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// `POST /sandbox/transfers` body (test mode): money sent into a sandbox virtual account.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct SandboxTransferRequest {
    /// The collection's sandbox `virtual_account` number.
    #[schema(example = "9990000013", pattern = "^[0-9]{10}$")]
    account_number: String,
    amount: AmountRequest,
}
