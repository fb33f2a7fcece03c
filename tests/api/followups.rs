//! Follow-ups end to end: the business clock walks a collection's plan, the worker writes and sends
//! each touch, and the channels' emulators (and a real SMTP server) show what arrived.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Africa::Lagos;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{eventually, example, run_one, spawn_with, take, TestApp};
use crate::scheduled_clock::worker_pass;

/// When the collection was created (business time runs on from where the test set it).
fn created_at(body: &Value) -> DateTime<Utc> {
    body["data"]["createdAt"].as_str().unwrap().parse().unwrap()
}

fn lagos(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Lagos
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn merchant_id(app: &TestApp) -> String {
    sqlx::query_scalar("select merchant_id from api_keys where id = $1")
        .bind(&app.key_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// What the emulators received for this merchant: (WhatsApp, SMS).
async fn received(app: &TestApp, merchant: &str) -> (Vec<Value>, Vec<Value>) {
    let get = |path: String| {
        let client = app.client.clone();
        async move {
            let body: Value = client.get(path).send().await.unwrap().json().await.unwrap();
            body["messages"].as_array().unwrap().clone()
        }
    };
    let whatsapp = get(app.url(&format!(
        "/_emulator/whatsapp/_messages?phone_number_id=emu-{merchant}"
    )))
    .await;
    let sms = get(app.url(&format!(
        "/_emulator/africastalking/_messages?username={merchant}"
    )))
    .await;
    (whatsapp, sms)
}

async fn messages(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/collections/{id}/messages")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// A sandbox collection made at 10:00 Lagos time on 1 March 2027, expiring in an hour, followed up by SMS,
/// due at `due`: the request, its create answer, its creation time and its id.
async fn sms_collection_due_at(app: &TestApp, due: &str) -> (Value, Value, DateTime<Utc>, String) {
    app.clock.set(lagos(2027, 3, 1, 10, 0));
    let mut body = example();
    body["provider"] = json!("sandbox");
    body["expiresIn"] = json!(60);
    body["followUp"]["channels"] = json!(["sms"]);
    body["dueAt"] = json!(due);
    let (status, created_body) = app.create(&body).await;
    assert_eq!(status, StatusCode::CREATED, "{created_body}");
    let created = created_at(&created_body);
    let id = created_body["data"]["id"].as_str().unwrap().to_owned();
    (body, created_body, created, id)
}

/// Moves the clock, lets the worker take what is due, and waits until no message is queued or sending.
async fn at(app: &TestApp, when: DateTime<Utc>) {
    app.clock.set(when);
    worker_pass(app).await;
    eventually("every due message to be sent", || async {
        let open = app
            .count("select count(*) from messages where status in ('queued', 'sending')")
            .await;
        // Neither due by business time nor running.
        let due: i64 = sqlx::query_scalar(
            "select count(*) from jobs where kind in ('followup', 'message', 'deadline') and status = 'queued'
               and (run_at <= $1 or locked_until > now())",
        )
        .bind(when)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (open == 0 && due == 0).then_some(())
    })
    .await;
}

async fn opt_in_whatsapp(app: &TestApp, contact: &str) {
    let (status, body) = app
        .post_json(
            &format!("/contacts/{contact}/opt-in"),
            &json!({"channel": "whatsapp", "source": "checkout checkbox", "at": "2026-01-05T09:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_example_sends_whatsapp_and_sms_every_ten_minutes_until_the_daily_cap() {
    // The emulated checkout waits for a customer who never pays.
    let app = spawn_with(&[("COWRY_EMULATOR_AUTOSETTLE", "false")]).await;
    let merchant = merchant_id(&app).await;
    let created = lagos(2027, 3, 1, 10, 0);
    app.clock.set(created);
    let (status, body) = app.create(&example()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created = created_at(&body);
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let contact = body["data"]["contact"]["id"].as_str().unwrap().to_owned();
    opt_in_whatsapp(&app, &contact).await;

    // One second before startAfter (20 minutes): nothing.
    at(&app, created + Duration::minutes(20) - Duration::seconds(1)).await;
    assert_eq!(received(&app, &merchant).await, (vec![], vec![]));

    // Minutes 20, 30, … 70: six touches, each on WhatsApp and SMS, in the gentle tone.
    for (n, minute) in [20, 30, 40, 50, 60, 70].into_iter().enumerate() {
        at(&app, created + Duration::minutes(minute)).await;
        let (whatsapp, sms) = received(&app, &merchant).await;
        assert_eq!(
            (whatsapp.len(), sms.len()),
            (n + 1, n + 1),
            "minute {minute}"
        );
    }
    let (whatsapp, sms) = received(&app, &merchant).await;
    assert_eq!(whatsapp[0]["template"], "cowry_reminder_gentle");
    assert_eq!(whatsapp[0]["to"], "2348012345678");
    assert_eq!(whatsapp[0]["parameters"][1], "NGN 45,000.00");
    assert_eq!(sms[0]["to"], "+2348012345678");
    let text = sms[0]["message"].as_str().unwrap();
    assert!(
        text.contains("NGN 45,000.00") && text.contains("Test merchant"),
        "{text}"
    );
    assert!(text.chars().count() <= 160, "one GSM-7 part: {text}");
    assert_eq!(sms[0]["parts"], 1);

    // The daily cap (six touches a local day): minute 80 sends nothing; the next morning goes on.
    at(&app, created + Duration::minutes(80)).await;
    assert_eq!(received(&app, &merchant).await.1.len(), 6);
    let run_at: DateTime<Utc> =
        sqlx::query_scalar("select run_at from jobs where kind = 'followup'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(run_at, lagos(2027, 3, 2, 8, 0), "held for the next morning");
    // Quiet hours: 23:00 sends nothing either.
    at(&app, lagos(2027, 3, 1, 23, 0)).await;
    assert_eq!(received(&app, &merchant).await.1.len(), 6);
    at(&app, lagos(2027, 3, 2, 8, 0)).await;
    assert_eq!(received(&app, &merchant).await.1.len(), 7);

    let listed = messages(&app, &id).await;
    assert_eq!(listed.len(), 14);
    assert!(listed.iter().all(|m| m["status"] == "sent"), "{listed:?}");
    // The first day in the merchant's tone; the next morning is past the due time (three quarters of
    // the way to expiry, 04:00), so the collection is overdue and the touch urgent.
    let tones: Vec<&str> = listed.iter().map(|m| m["tone"].as_str().unwrap()).collect();
    assert_eq!(tones[..12], ["gentle"; 12]);
    assert_eq!(tones[12..], ["urgent", "urgent"]);
    assert_eq!(listed[0]["channel"], "sms");
    assert_eq!(listed[1]["channel"], "whatsapp");
    assert_eq!(listed[1]["template"]["name"], "cowry_reminder_gentle");

    // Each send is an event the merchant receives.
    let sent = app
        .count("select count(*) from collection_events where type = 'followup.sent'")
        .await;
    assert_eq!(sent, 14);

    // Cancelled: nothing more, and the plan's job is gone.
    let (status, _) = app.post(&format!("/collections/{id}/cancel")).await;
    assert_eq!(status, StatusCode::OK);
    at(&app, lagos(2027, 3, 2, 8, 10)).await;
    assert_eq!(received(&app, &merchant).await.1.len(), 7);
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'followup'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_whatsapp_opt_in_or_after_an_opt_out_a_channel_is_skipped_and_said_so() {
    let app = spawn_with(&[("COWRY_EMULATOR_AUTOSETTLE", "false")]).await;
    let merchant = merchant_id(&app).await;
    let created = lagos(2027, 3, 1, 10, 0);
    app.clock.set(created);
    let (_, body) = app.create(&example()).await;
    let created = created_at(&body);
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let contact = body["data"]["contact"]["id"].as_str().unwrap().to_owned();

    at(&app, created + Duration::minutes(20)).await;
    let (whatsapp, sms) = received(&app, &merchant).await;
    assert_eq!((whatsapp.len(), sms.len()), (0, 1));
    let listed = messages(&app, &id).await;
    let skipped = listed.iter().find(|m| m["channel"] == "whatsapp").unwrap();
    assert_eq!(skipped["status"], "skipped");
    assert!(
        skipped["reason"].as_str().unwrap().contains("opt-in"),
        "{skipped}"
    );

    // The merchant records the customer's STOP for SMS: the next touch sends nothing on SMS.
    let (status, body) = app
        .post_json(
            &format!("/contacts/{contact}/opt-out"),
            &json!({"channels": ["sms"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["optedOut"], json!(["sms"]));
    at(&app, created + Duration::minutes(30)).await;
    assert_eq!(received(&app, &merchant).await.1.len(), 1);
    let listed = messages(&app, &id).await;
    assert!(listed
        .iter()
        .any(|m| m["touch"] == 2 && m["channel"] == "sms" && m["status"] == "skipped"));

    // Bad input names the field and changes nothing.
    let (status, body) = app
        .post_json(
            &format!("/contacts/{contact}/opt-out"),
            &json!({"channels": ["fax"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app
        .post_json(
            "/contacts/contact_nobody/opt-out",
            &json!({"channels": ["sms"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_landing_while_a_message_is_queued_sends_nothing() {
    let (app, state, merchant) = without_workers().await;
    let (id, created) = first_sms_touch_written(&app, &state).await;
    let listed = messages(&app, &id).await;
    assert_eq!(listed[0]["status"], "queued");
    // The payment lands before the send is claimed.
    sqlx::query("update collections set status = 'completed', completed_at = now() where id = $1")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    run_one(&app, &state, "message").await;
    assert_eq!(received(&app, &merchant).await.1.len(), 0);
    let listed = messages(&app, &id).await;
    assert_eq!(listed[0]["status"], "cancelled");
    assert!(listed[0]["reason"].as_str().unwrap().contains("completed"));
    // And the plan ends at its next touch.
    app.clock.set(created + Duration::minutes(30));
    run_one(&app, &state, "followup").await;
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'followup'")
            .await,
        0
    );
    assert_eq!(app.count("select count(*) from messages").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_failed_is_retried_and_a_refused_one_fails_with_an_event() {
    let (app, state, merchant) = without_workers().await;
    let mut body = example();
    body["provider"] = json!("sandbox");
    body["followUp"]["channels"] = json!(["sms"]);
    // The SMS gateway's own trouble (magic ending 0500), then a blacklisted number (0406).
    body["contact"]["phone"] = json!("+2348030000500");
    let (_, one) = app.create(&body).await;
    body["reference"] = json!("second");
    body["contact"]["phone"] = json!("+2348030000406");
    body["contact"]["email"] = json!("second@example.com");
    let (_, two) = app.create(&body).await;
    let created = created_at(&two);
    app.clock.set(created + Duration::minutes(20));
    run_one(&app, &state, "followup").await;
    run_one(&app, &state, "followup").await;

    let job = take(&app, "message").await;
    let run = cowry::jobs::kinds::find("message").unwrap().run;
    let mut outcomes = vec![format!("{:?}", run(state.clone(), job.clone()).await)];
    cowry::store::jobs::finish(&app.pool, job.id, "test")
        .await
        .unwrap();
    let job = take(&app, "message").await;
    outcomes.push(format!("{:?}", run(state.clone(), job.clone()).await));
    assert!(
        outcomes.iter().any(|o| o.starts_with("RetryAt")),
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|o| o == "Done"), "{outcomes:?}");

    let first = messages(&app, one["data"]["id"].as_str().unwrap()).await;
    assert_eq!(first[0]["status"], "queued", "retried later");
    assert!(first[0]["reason"].as_str().unwrap().contains("500"));
    assert_eq!(first[0]["attempts"], 1);
    let second = messages(&app, two["data"]["id"].as_str().unwrap()).await;
    assert_eq!(second[0]["status"], "failed");
    assert!(second[0]["reason"]
        .as_str()
        .unwrap()
        .contains("UserInBlacklist"));
    assert_eq!(
        app.count("select count(*) from collection_events where type = 'followup.failed'")
            .await,
        1
    );
    assert_eq!(received(&app, &merchant).await.1.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_follow_up_arrives_at_a_real_smtp_server_with_both_parts_and_the_link() {
    let sink = SmtpSink::start();
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    let app = spawn_with(&[
        ("COWRY_SMTP_URL", &url),
        ("COWRY_SMTP_FROM", "Acme Pay <pay@acme.example>"),
    ])
    .await;
    let created = lagos(2027, 3, 1, 10, 0);
    app.clock.set(created);
    let mut body = example();
    body["provider"] = json!("sandbox");
    body["followUp"] = json!({"enabled": true, "startAfter": 5, "cadence": "daily",
                              "channels": ["email"], "tone": "urgent"});
    let (_, created_body) = app.create(&body).await;
    let created = created_at(&created_body);
    let id = created_body["data"]["id"].as_str().unwrap().to_owned();
    let link = created_body["data"]["payable"]["options"][0]["link"]
        .as_str()
        .unwrap()
        .to_owned();
    at(&app, created + Duration::minutes(5)).await;

    let mail = sink.next();
    assert_eq!(mail["rcpt_tos"], json!(["amina.lawal@example.com"]));
    assert_eq!(mail["from"], "Acme Pay <pay@acme.example>");
    assert_eq!(mail["content_type"], "multipart/alternative");
    let subject = mail["subject"].as_str().unwrap();
    assert!(
        subject.contains("NGN 45,000.00") && subject.contains("Test merchant"),
        "{subject}"
    );
    let parts = mail["parts"].as_array().unwrap();
    let part = |kind: &str| {
        parts
            .iter()
            .find(|p| p["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} part: {parts:?}"))["text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(part("text/plain").contains(&link), "{}", part("text/plain"));
    assert!(part("text/html").contains(&link.replace('&', "&amp;")));
    let listed = messages(&app, &id).await;
    assert_eq!(listed[0]["status"], "sent");
    assert_eq!(listed[0]["subject"], subject);
}

/// Creates the document's example on the sandbox with SMS follow-ups, moves the clock to its first touch
/// (minute 20) and runs the touch: its message is queued, not yet sent. Returns the collection's id and
/// when it was created.
async fn first_sms_touch_written(
    app: &TestApp,
    state: &cowry::AppState,
) -> (String, DateTime<Utc>) {
    let mut body = example();
    body["provider"] = json!("sandbox");
    body["followUp"]["channels"] = json!(["sms"]);
    let (_, created_body) = app.create(&body).await;
    let created = created_at(&created_body);
    let id = created_body["data"]["id"].as_str().unwrap().to_owned();
    app.clock.set(created + Duration::minutes(20));
    run_one(app, state, "followup").await;
    (id, created)
}

/// A server without workers (the test runs each job itself, in the order that matters), a state of
/// its own on the server's clock, and the merchant's id; business time is 10:00 in Lagos.
async fn without_workers() -> (TestApp, cowry::AppState, String) {
    let extra = [("COWRY_WORKERS", "false")];
    let app = spawn_with(&extra).await;
    let merchant = merchant_id(&app).await;
    let state = cowry::AppState::new(app.pool.clone(), crate::common::test_config(&extra))
        .with_clock(app.clock.clone());
    state.providers.set_self_base(app.base.clone());
    app.clock.set(lagos(2027, 3, 1, 10, 0));
    (app, state, merchant)
}

/// `tests/channels/smtp_sink.py`: aiosmtpd on a free port, one JSON line per message received.
struct SmtpSink {
    port: u16,
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/channels/smtp_sink.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP sink");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the SMTP sink starts");
        assert_eq!(ready, "ready");
        SmtpSink { port, child, lines }
    }

    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a message reaches the SMTP server");
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchants_own_channel_settings_are_used_and_their_secrets_never_shown() {
    let app = spawn_with(&[("COWRY_EMULATOR_AUTOSETTLE", "false")]).await;
    let (status, body) = app.get("/channels").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sources: Vec<(&str, &str)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap(),
                c["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("whatsapp", "emulator"),
            ("sms", "emulator"),
            ("email", "none")
        ]
    );

    // The merchant's own Africa's Talking account (here: the emulator under its own username).
    let settings = json!({"username": "acme-ng", "apiKey": "atsk_secret_key_123", "senderId": "ACME",
                          "baseUrl": app.url("/_emulator/africastalking")});
    let response = app
        .authed(reqwest::Method::PUT, "/channels/sms")
        .json(&settings)
        .send()
        .await
        .unwrap();
    let (status, body) = crate::common::read(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["source"], "merchant");
    assert_eq!(body["data"]["hasCredentials"], true);
    assert!(!body.to_string().contains("atsk_secret_key_123"));
    let stored: Vec<u8> = sqlx::query_scalar("select credentials from merchant_channels")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&stored).contains("atsk_secret"),
        "sealed at rest"
    );

    let created = lagos(2027, 3, 1, 10, 0);
    app.clock.set(created);
    let mut collection = example();
    collection["followUp"]["channels"] = json!(["sms"]);
    let (_, body) = app.create(&collection).await;
    let created = created_at(&body);
    at(&app, created + Duration::minutes(20)).await;
    let sent: Value = app
        .client
        .get(app.url("/_emulator/africastalking/_messages?username=acme-ng"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["messages"][0]["from"], "ACME");
    assert_eq!(sent["messages"][0]["apiKey"], "atsk_secret_key_123");

    // Bad settings name every field; removing them goes back to the emulator.
    let response = app
        .authed(reqwest::Method::PUT, "/channels/whatsapp")
        .json(&json!({"templates": {"gentle": "Not A Name"}}))
        .send()
        .await
        .unwrap();
    let (status, body) = crate::common::read(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields =
        crate::common::assert_error(&body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(fields, ["phoneNumberId", "accessToken", "templates.gentle"]);
    let response = app
        .authed(reqwest::Method::DELETE, "/channels/sms")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, body) = app.get("/channels/sms").await;
    assert_eq!(body["data"]["source"], "emulator");
    let (status, _) = app.get("/channels/fax").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_turns_overdue_and_expires_on_time_and_its_follow_ups_escalate_then_stop() {
    let app = spawn_with(&[]).await;
    let merchant = merchant_id(&app).await;
    let (mut body, created_body, created, id) =
        sms_collection_due_at(&app, "2027-03-01T10:35:00+01:00").await;
    assert_eq!(created_body["data"]["dueAt"], "2027-03-01T09:35:00.000Z");
    let status_of = || async {
        let (_, body) = app.get(&format!("/collections/{id}")).await;
        body["data"]["status"].as_str().unwrap().to_owned()
    };

    at(&app, created + Duration::minutes(20)).await;
    at(&app, created + Duration::minutes(30)).await;
    assert_eq!(status_of().await, "pending");
    at(&app, lagos(2027, 3, 1, 10, 35)).await;
    assert_eq!(
        status_of().await,
        "overdue",
        "moved by its own job, on time"
    );
    let (_, events) = app.get(&format!("/collections/{id}/events")).await;
    assert!(events["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "collection.overdue"));
    // Touches at 20 and 30 were gentle; the one at 40, past the due time, is urgent.
    at(&app, created + Duration::minutes(40)).await;
    let tones: Vec<String> = messages(&app, &id)
        .await
        .iter()
        .map(|m| m["tone"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tones, ["gentle", "gentle", "urgent"]);
    assert!(received(&app, &merchant).await.1[2]["message"]
        .as_str()
        .unwrap()
        .contains("URGENT"));

    at(&app, created + Duration::minutes(60)).await;
    assert_eq!(status_of().await, "expired");
    assert_eq!(
        app.count("select count(*) from jobs where kind in ('followup', 'deadline')")
            .await,
        0
    );
    at(&app, created + Duration::minutes(70)).await;
    assert_eq!(
        received(&app, &merchant).await.1.len(),
        3,
        "nothing after expiry"
    );

    // Without dueAt: three quarters of the way to expiry. A dueAt past the expiry names the field.
    body["reference"] = json!("second");
    body.as_object_mut().unwrap().remove("dueAt");
    let (_, second) = app.create(&body).await;
    let created: DateTime<Utc> = created_at(&second);
    let due: DateTime<Utc> = second["data"]["dueAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(due - created, Duration::minutes(45));
    body["reference"] = json!("third");
    body["dueAt"] = json!("2030-01-01T00:00:00Z");
    let (status, refused) = app.create(&body).await;
    let fields = crate::common::assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(fields, ["dueAt"], "{status}");
}

/// Sets the test merchant's callbacks at both emulators, as a merchant would in each dashboard, from
/// what `GET /channels` says.
async fn register_callbacks(app: &TestApp, merchant: &str) {
    let (_, channels) = app.get("/channels").await;
    // The tests' public URL is a name; the emulators reach this server at its loopback address.
    let find = |name: &str| {
        let callbacks = channels["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == name)
            .unwrap()["callbacks"]
            .to_string()
            .replace("http://cowry.test", &app.base);
        serde_json::from_str::<Value>(&callbacks).unwrap()
    };
    let (sms, whatsapp) = (find("sms"), find("whatsapp"));
    let answer = app
        .client
        .post(app.url("/_emulator/africastalking/_callbacks"))
        .json(
            &json!({"username": merchant, "deliveryReports": sms["deliveryReports"],
                      "incomingMessages": sms["incomingMessages"]}),
        )
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    // Meta verifies the URL first: a wrong verify token is refused by Cowry, so the emulator keeps none.
    let refused = app
        .client
        .post(app.url("/_emulator/whatsapp/_webhook"))
        .json(
            &json!({"phone_number_id": format!("emu-{merchant}"), "url": whatsapp["webhookUrl"],
                      "verify_token": "guessed", "app_secret": whatsapp["appSecret"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let answer = app
        .client
        .post(app.url("/_emulator/whatsapp/_webhook"))
        .json(&json!({"phone_number_id": format!("emu-{merchant}"), "url": whatsapp["webhookUrl"],
                      "verify_token": whatsapp["verifyToken"], "app_secret": whatsapp["appSecret"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "{:?}", answer.text().await);
}

/// A worker back after an outage finds the deadline and a touch due at once and may run the touch first:
/// past the due time the touch is urgent all the same (the tone follows the due time, not only the status).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_touch_past_the_due_time_is_urgent_even_before_the_deadline_job_ran() {
    let app = spawn_with(&[]).await;
    let (_, _, created, id) = sms_collection_due_at(&app, "2027-03-01T10:15:00+01:00").await;
    // The deadline job has not run (as if the worker that would have run it were down).
    let deadline = "update jobs set run_at = '2028-01-01T00:00:00Z' where kind = 'deadline'";
    sqlx::query(deadline).execute(&app.pool).await.unwrap();
    at(&app, created + Duration::minutes(20)).await;
    let (_, now) = app.get(&format!("/collections/{id}")).await;
    assert_eq!(
        now["data"]["status"], "pending",
        "the deadline job did not run"
    );
    let tones: Vec<String> = messages(&app, &id)
        .await
        .iter()
        .map(|m| m["tone"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tones, ["urgent"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_reports_mark_messages_and_a_stop_reply_ends_that_channel() {
    let app = spawn_with(&[("COWRY_EMULATOR_AUTOSETTLE", "false")]).await;
    let merchant = merchant_id(&app).await;
    register_callbacks(&app, &merchant).await;
    app.clock.set(lagos(2027, 3, 1, 10, 0));
    let mut body = example();
    body["provider"] = json!("sandbox");
    let (_, first) = app.create(&body).await;
    let created = created_at(&first);
    let id = first["data"]["id"].as_str().unwrap().to_owned();
    opt_in_whatsapp(&app, first["data"]["contact"]["id"].as_str().unwrap()).await;
    // A second customer whose phone is off (AbsentSubscriber on SMS, undeliverable on WhatsApp).
    body["reference"] = json!("absent");
    body["contact"]["phone"] = json!("+2348030000404");
    body["contact"]["email"] = json!("absent@example.com");
    let (_, absent) = app.create(&body).await;
    let absent_id = absent["data"]["id"].as_str().unwrap().to_owned();
    opt_in_whatsapp(&app, absent["data"]["contact"]["id"].as_str().unwrap()).await;

    at(&app, created + Duration::minutes(20)).await;
    eventually("the channels' delivery reports", || async {
        let delivered = messages(&app, &id).await;
        let failed = messages(&app, &absent_id).await;
        (delivered.iter().all(|m| m["status"] == "delivered")
            && failed.iter().all(|m| m["status"] == "undelivered"))
        .then_some(())
    })
    .await;
    let failed = messages(&app, &absent_id).await;
    let reasons: Vec<&str> = failed
        .iter()
        .map(|m| m["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("AbsentSubscriber")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("131026")), "{reasons:?}");
    assert!(messages(&app, &id).await[0]["deliveredAt"].is_string());

    // The customer texts STOP to the SMS number, then to WhatsApp.
    let answer: Value = app
        .client
        .post(app.url("/_emulator/africastalking/_reply"))
        .json(&json!({"username": merchant, "from": "+2348012345678", "text": "Stop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["callbackStatus"], 200);
    at(&app, created + Duration::minutes(30)).await;
    let (whatsapp, sms) = received(&app, &merchant).await;
    let to_first = |list: &[Value], to: &str| list.iter().filter(|m| m["to"] == to).count();
    assert_eq!(to_first(&sms, "+2348012345678"), 1, "no SMS after STOP");
    assert_eq!(to_first(&whatsapp, "2348012345678"), 2, "WhatsApp goes on");
    let answer: Value = app
        .client
        .post(app.url("/_emulator/whatsapp/_reply"))
        .json(&json!({"phone_number_id": format!("emu-{merchant}"), "from": "2348012345678", "text": "STOP"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["callbackStatus"], 200);
    at(&app, created + Duration::minutes(40)).await;
    let (whatsapp, _) = received(&app, &merchant).await;
    assert_eq!(
        to_first(&whatsapp, "2348012345678"),
        2,
        "no WhatsApp after STOP"
    );
    let sources: Vec<String> =
        sqlx::query_scalar("select source from contact_opt_outs order by source")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(sources, ["sms reply", "whatsapp reply"]);

    // An unsigned or wrongly signed WhatsApp webhook, or a wrong token in the URL, changes nothing.
    let (_, channels) = app.get("/channels/whatsapp").await;
    let url = channels["data"]["callbacks"]["webhookUrl"]
        .as_str()
        .unwrap()
        .replace("http://cowry.test", &app.base);
    let forged = app
        .client
        .post(&url)
        .header("x-hub-signature-256", "sha256=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .client
        .post(url.replace(&url[url.len() - 6..], "000000"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_plan_prefers_what_was_followed_by_payment_for_this_merchant() {
    // Read what was learned afresh on every create (the default is every ten minutes).
    let app = spawn_with(&[("COWRY_LEARNING_REFRESH_SECS", "0")]).await;
    let mut body = example();
    body["provider"] = json!("sandbox");
    body.as_object_mut().unwrap().remove("followUp");
    // History: 40 collections, each reminded by SMS (never paid within a day) and by email in the
    // evening (paid an hour later).
    for n in 0..40 {
        body["reference"] = json!(format!("history-{n}"));
        let (status, created) = app.create(&body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    sqlx::query(
        "insert into messages (merchant_id, id, collection_id, contact_id, seq, channel, tone, status,
                               recipient, body, planned_at, sent_at)
         select c.merchant_id, 'msg_' || c.id || ch, c.id, c.contact_id, 1, ch, 'professional', 'sent',
                'x', 'x', at, at
         from collections c,
              lateral (values ('sms', timestamptz '2026-05-30 07:00+00'),
                              ('email', timestamptz '2026-06-01 17:30+00')) as v(ch, at)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "update collections set status = 'completed', completed_at = '2026-06-01 18:30+00'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // Recent enough to count (the last 90 days), moved by whole days so each keeps its local hour.
    sqlx::query(
        "update messages set sent_at = sent_at + (date_trunc('day', now()) - timestamptz '2026-06-02 00:00+00')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("update collections set completed_at = completed_at + (date_trunc('day', now()) - timestamptz '2026-06-02 00:00+00')")
        .execute(&app.pool)
        .await
        .unwrap();

    // One plan in five explores (by its random id): 20 plans, of which at least half use what was
    // learned, fail by chance about once in 1,800 runs (5 of 10 failed about once in 160).
    let mut learned_plans = 0;
    for n in 0..20 {
        body["reference"] = json!(format!("new-{n}"));
        let (_, created) = app.create(&body).await;
        let plan = &created["data"]["followUp"];
        let steps = plan["steps"].as_array().unwrap();
        let learned = plan["learned"].as_array().unwrap();
        if learned.is_empty() {
            // An exploring plan: the defaults (SMS first).
            assert_eq!(steps[0]["channel"], "sms", "{plan}");
            continue;
        }
        learned_plans += 1;
        assert!(steps.iter().all(|s| s["channel"] == "email"), "{plan}");
        assert!(
            learned[0].as_str().unwrap().contains("email worked best"),
            "{plan}"
        );
    }
    assert!(
        learned_plans >= 10,
        "most plans use what was learned: {learned_plans}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_touches_due_at_once_are_each_sent_once_even_with_a_small_pool() {
    // 32 job slots sharing 3 connections, 40 touches due at once.
    let app = spawn_with(&[("COWRY_DB_MAX_CONNECTIONS", "3")]).await;
    let merchant = merchant_id(&app).await;
    app.clock.set(lagos(2027, 3, 1, 10, 0));
    let mut body = example();
    body["provider"] = json!("sandbox");
    body["followUp"] = json!({"enabled": true, "startAfter": 1, "cadence": "daily",
                              "channels": ["sms"], "tone": "professional"});
    let mut created = lagos(2027, 3, 1, 10, 0);
    for n in 0..40 {
        body["reference"] = json!(format!("many-{n}"));
        body["contact"]["phone"] = json!(format!("+234803{:06}1", n));
        body["contact"]["email"] = json!(format!("many{n}@example.com"));
        let (status, answer) = app.create(&body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        created = created_at(&answer);
    }
    // All 40 fall due together.
    at(&app, created + Duration::minutes(1)).await;
    let sms = received(&app, &merchant).await.1;
    assert_eq!(sms.len(), 40);
    let mut recipients: Vec<&str> = sms.iter().map(|m| m["to"].as_str().unwrap()).collect();
    recipients.sort_unstable();
    recipients.dedup();
    assert_eq!(recipients.len(), 40, "each once");
    assert_eq!(
        app.count("select count(*) from messages where status = 'sent'")
            .await,
        40
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_plan_knows_the_customer_opted_in_opted_out_and_paid_promptly_before() {
    let app = spawn_with(&[]).await;
    let mut body = example();
    body["provider"] = json!("sandbox");
    body.as_object_mut().unwrap().remove("followUp");
    body["expiresIn"] = json!(4320);
    let (_, first) = app.create(&body).await;
    let plan = &first["data"]["followUp"];
    assert_eq!(plan["steps"][0]["channel"], "sms", "{plan}");
    assert_eq!(plan["steps"][0]["tone"], "gentle", "{plan}");
    let contact = first["data"]["contact"]["id"].as_str().unwrap().to_owned();

    // They paid it within its first quarter, opted in to WhatsApp and out of email.
    sqlx::query("update collections set status = 'completed', completed_at = created_at + interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    opt_in_whatsapp(&app, &contact).await;
    let (status, _) = app
        .post_json(
            &format!("/contacts/{contact}/opt-out"),
            &json!({"channels": ["email"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    body["reference"] = json!("second");
    let (_, second) = app.create(&body).await;
    let plan = &second["data"]["followUp"];
    let steps = plan["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["channel"] == "whatsapp"), "{plan}");
    assert!(
        steps.iter().all(|s| s["tone"] != "gentle"),
        "no gentle nudge for a prompt payer: {plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_interrupted_by_a_crash_is_never_repeated() {
    let (app, state, merchant) = without_workers().await;
    let (id, _) = first_sms_touch_written(&app, &state).await;
    // A worker claimed the send (the message is `sending`) and died before it recorded the outcome:
    // its lease ran out and the job is taken again.
    sqlx::query("update messages set status = 'sending', attempts = 1")
        .execute(&app.pool)
        .await
        .unwrap();
    run_one(&app, &state, "message").await;
    let listed = messages(&app, &id).await;
    assert_eq!(listed[0]["status"], "unknown");
    assert!(listed[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not sent again"));
    assert_eq!(
        received(&app, &merchant).await.1.len(),
        0,
        "never sent twice"
    );
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'message'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_report_that_beats_the_recorded_send_is_applied_when_the_send_is_recorded() {
    let (app, state, merchant) = without_workers().await;
    let (id, _) = first_sms_touch_written(&app, &state).await;
    let message: String =
        sqlx::query_scalar("select id from messages where collection_id = $1 and channel = 'sms'")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    // The send is under way (claimed), the channel answered ATXid_early, and its delivery report
    // reaches Cowry before Cowry has recorded that answer.
    sqlx::query("update messages set status = 'sending' where id = $1")
        .bind(&message)
        .execute(&app.pool)
        .await
        .unwrap();
    let moved = cowry::store::messages::record_delivery(
        &app.pool,
        &merchant,
        "sms",
        "ATXid_early",
        true,
        None,
    )
    .await
    .unwrap();
    assert!(!moved, "no message has that id yet");
    let mut conn = app.pool.acquire().await.unwrap();
    cowry::store::messages::mark_sent(
        &mut conn,
        &merchant,
        &message,
        "sms",
        Some("ATXid_early"),
        Some(1),
    )
    .await
    .unwrap();
    let (status, delivered_at): (String, Option<DateTime<Utc>>) =
        sqlx::query_as("select status, delivered_at from messages where id = $1")
            .bind(&message)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "delivered");
    assert!(delivered_at.is_some());
    assert_eq!(
        app.count("select count(*) from early_delivery_reports")
            .await,
        0,
        "the kept report was used up"
    );
}
