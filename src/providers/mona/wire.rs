//! Mona's wire format for scheduled collections (`shared/spec/scheduled-collection.txt`, Mona's
//! "Create Collection"): amounts are strings in kobo; request datetimes carry no offset (Lagos time);
//! the answer names `maxAmount` where the request said `maximumAmount`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCollection<'a> {
    pub maximum_amount: String,
    pub debit_type: &'a str,
    pub start_date: String,
    pub expiry_date: String,
    pub reference: &'a str,
    pub schedule: Schedule,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<&'a str>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Schedule {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub frequency: Option<String>,
    #[serde(default)]
    pub amount: Option<String>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    pub date: String,
    pub amount: String,
}

#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    #[serde(default)]
    pub message: Option<String>,
    pub data: Option<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub id: String,
    pub is_consented: bool,
    pub collection: Collection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    pub max_amount: String,
    pub status: String,
    #[serde(default)]
    pub next_collection_at: Option<String>,
    pub debit_type: String,
    #[serde(default)]
    pub reference: Option<String>,
}
