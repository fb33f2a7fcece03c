//! Message channels against their emulators: Africa's Talking SMS, from Cowry's client and from the
//! provider's own published Python library (so the emulator is held to what real integrations send).

use cowry::config::Secret;
use cowry::notify::africastalking::{AfricasTalking, SendError};
use serde_json::Value;

use crate::common::spawn_with;

async fn sent(app: &crate::common::TestApp, username: &str) -> Vec<Value> {
    let body: Value = app
        .client
        .get(app.url(&format!(
            "/_emulator/africastalking/_messages?username={username}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["messages"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_goes_out_form_encoded_and_each_recipient_has_its_outcome() {
    let app = spawn_with(&[]).await;
    let base = app.url("/_emulator/africastalking");
    let at = AfricasTalking::new(
        &base,
        "acme",
        Secret::new("atsk_test_key"),
        reqwest::Client::new(),
    );
    let text = "Ada, a reminder: NGN 5,000.00 is due to Acme Stores by 30 Nov, 18:00.";
    let recipients = at
        .send(&["+2348012345678", "+2348010000403"], text, Some("ACME"))
        .await
        .unwrap();
    assert_eq!(recipients.len(), 2);
    assert!(recipients[0].accepted() && recipients[0].message_id.is_some());
    assert_eq!(recipients[0].status_code, 101);
    assert_eq!(
        (recipients[1].status_code, recipients[1].status.as_str()),
        (403, "InvalidPhoneNumber")
    );
    assert!(!recipients[1].accepted() && !recipients[1].retryable());
    assert_eq!(recipients[1].message_id, None);

    let recorded = sent(&app, "acme").await;
    assert_eq!(recorded.len(), 1, "only the accepted number was sent");
    assert_eq!(recorded[0]["message"], text);
    assert_eq!(recorded[0]["from"], "ACME");
    assert_eq!(recorded[0]["bulkSMSMode"], "1");
    assert_eq!(recorded[0]["apiKey"], "atsk_test_key");
    assert_eq!(recorded[0]["parts"], 1);
    assert_eq!(
        recorded[0]["id"].as_str(),
        recipients[0].message_id.as_deref()
    );

    // A long UCS-2 text is one message of several parts.
    let long = "Ẹ ku irọlẹ! ".repeat(12);
    at.send(&["+2348012345678"], &long, None).await.unwrap();
    let recorded = sent(&app, "acme").await;
    assert_eq!(recorded[1]["parts"], 3);
    assert_eq!(recorded[1]["from"], Value::Null);

    let anonymous = AfricasTalking::new(&base, "acme", Secret::new(""), reqwest::Client::new());
    assert!(matches!(
        anonymous.send(&["+2348012345678"], "x", None).await,
        Err(SendError::BadCredentials)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_library_talks_to_the_emulator_unchanged() {
    let app = spawn_with(&[]).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/channels/at_send.py");
    let base = app.url("/_emulator/africastalking");
    // The server answers on this runtime while the library blocks on its own thread.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .args([base.as_str(), "acme", "atsk_python_key"])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    assert!(
        output.status.success(),
        "the library failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value =
        serde_json::from_slice(&output.stdout).expect("the library's answer is JSON");
    let recipients = answer["SMSMessageData"]["Recipients"].as_array().unwrap();
    assert_eq!(recipients[0]["statusCode"], 101);
    assert_eq!(recipients[1]["status"], "UserInBlacklist");
    let recorded = sent(&app, "acme").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["to"], "+2348012345678");
    assert_eq!(recorded[0]["from"], "ACME");
    assert_eq!(recorded[0]["apiKey"], "atsk_python_key");
    assert_eq!(recorded[0]["bulkSMSMode"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_whatsapp_client_sends_a_template_to_the_emulator_unchanged() {
    let app = spawn_with(&[]).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/channels/wa_send.py");
    let base = app.url("/_emulator/whatsapp");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .args([
                base.as_str(),
                "106540352242922",
                "EAAG_test_token",
                "2348012345678",
            ])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    assert!(
        output.status.success(),
        "pywa failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("pywa's answer is JSON");
    let id = answer["id"].as_str().unwrap();
    assert!(id.starts_with("wamid."), "{answer}");
    let recorded: Value = app
        .client
        .get(app.url("/_emulator/whatsapp/_messages?phone_number_id=106540352242922"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = &recorded["messages"][0];
    assert_eq!(message["id"], id);
    assert_eq!(message["template"], "cowry_reminder_professional");
    assert_eq!(message["language"], "en");
    assert_eq!(message["token"], "EAAG_test_token");
    assert_eq!(message["parameters"][1], "NGN 5,000.00");
}
