//! `POST /providers` body: one shape per kind of account, each with the credentials that kind needs.
//! Documentation only (the handler validates the raw JSON). A test account may leave `credentials`
//! out (it then gets random emulator credentials); a live one must give them. Mode and key prefix
//! follow the merchant's own mode (`sk_test_` for a test merchant's Paystack key).

use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ProviderRequest {
    Sandbox(Account<SandboxKind, NoCredentials>),
    Paystack(Account<PaystackKind, PaystackCredentials>),
    MtnMomo(Account<MtnMomoKind, MtnMomoCredentials>),
    AirtelMoney(Account<AirtelMoneyKind, AirtelMoneyCredentials>),
    Mona(Account<MonaKind, MonaCredentials>),
    Dollr(Account<DollrKind, ClientCredentials>),
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct Account<K: ToSchema, C: ToSchema> {
    /// Your name for the account: lower-case letters, digits, - and _.
    #[schema(example = "paystack-main", pattern = "^\\s*[a-z0-9_-]{1,40}\\s*$")]
    slug: String,
    kind: K,
    /// Your merchant's own mode (default).
    mode: Option<Mode>,
    /// Overrides the provider's address: http(s), no user name or password; https for live accounts.
    #[schema(
        example = "https://api.paystack.co",
        max_length = 300,
        pattern = "^\\s*https?://[^\\s/@]+(/[^\\s@]*)?\\s*$"
    )]
    base_url: Option<String>,
    credentials: Option<C>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Mode {
    Test,
    Live,
}

macro_rules! kind {
    ($name:ident, $value:literal) => {
        #[derive(Deserialize, ToSchema)]
        #[allow(dead_code)]
        pub enum $name {
            #[serde(rename = $value)]
            Kind,
        }
    };
}

kind!(SandboxKind, "sandbox");
kind!(PaystackKind, "paystack");
kind!(MtnMomoKind, "mtn_momo");
kind!(AirtelMoneyKind, "airtel_money");
kind!(MonaKind, "mona");
kind!(DollrKind, "dollr");

/// The sandbox takes no credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NoCredentials {}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct PaystackCredentials {
    /// `sk_test_…` for a test merchant, `sk_live_…` for a live one.
    #[schema(
        example = "sk_test_0123456789abcdef",
        max_length = 500,
        pattern = "^\\s*sk_(test|live)_[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    secret_key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct MtnMomoCredentials {
    /// The API user (a UUID).
    #[schema(
        example = "c72025f5-5cd1-4630-99e4-8ba4722fad56",
        pattern = "^\\s*[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\\s*$"
    )]
    api_user: String,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    api_key: String,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    subscription_key: String,
    /// `sandbox`, or the market's environment, e.g. `mtnuganda`.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    target_environment: String,
}

/// An OAuth client (Airtel's and Dollr's apps).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ClientCredentials {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    client_id: String,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    client_secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AirtelMoneyCredentials {
    #[serde(flatten)]
    client: ClientCredentials,
    /// The app's market (ISO 3166 alpha-2), e.g. `UG`.
    #[schema(example = "UG", pattern = "^\\s*[A-Z]{2}\\s*$")]
    country: String,
    /// Whether the app requires signed payment requests (v2).
    sign_payments: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct MonaCredentials {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    api_key: String,
}
