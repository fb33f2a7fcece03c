//! The Dollr adapter against the Dollr emulator: the invoice → session → execution flow, polling,
//! receipts, reused reference ids, and payouts.

use std::time::Duration;

use cowry::config::Secret;
use cowry::domain::{currency::Currency, money::Money, phone::Phone};
use cowry::providers::dollr::{Customer, Dollr, LineItem};
use cowry::providers::http::{HttpPolicy, ProviderHttp};
use cowry::providers::{PaymentStatus, ProviderError};
use serde_json::json;
use uuid::Uuid;

use crate::common::{spawn_with, TestApp};

fn dollr(app: &TestApp, secret: &str) -> Dollr {
    Dollr::new(
        &format!("{}/_emulator/dollr", app.base),
        "client-1",
        Secret::new(secret),
        ProviderHttp::new(HttpPolicy::default()),
    )
}

fn ugx(amount: i64) -> Money {
    Money::from_minor(amount, Currency::parse("UGX").unwrap())
}

async fn settled_collection(dollr: &Dollr, reference: Uuid) -> PaymentStatus {
    for _ in 0..200 {
        let status = dollr.collection_status(reference).await.unwrap().status;
        if status.is_final() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{reference} never settled");
}

/// Steps 2–10 for one customer phone; returns (customer, invoice, session, payment account).
async fn ready_to_collect(dollr: &Dollr, phone: &Phone) -> (Customer, String, String, String) {
    let customer = dollr
        .ensure_customer(None, "Amina Lawal", phone, Some("amina@example.com"), "UG")
        .await
        .unwrap();
    let items = [
        LineItem {
            name: "Membership",
            qty: 1,
            amount: ugx(15_000),
        },
        LineItem {
            name: "Card fee",
            qty: 2,
            amount: ugx(2_500),
        },
    ];
    let invoice = dollr
        .invoice(&customer, "January plan renewal", &items)
        .await
        .unwrap();
    let mmo = dollr.mmo_info(phone).await.unwrap();
    let session = dollr.checkout(&invoice).await.unwrap();
    let account = dollr
        .payment_account("COLLECTION", &customer, "Amina Lawal", phone, &mmo, "UG")
        .await
        .unwrap();
    (customer, invoice, session, account)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_is_collected_then_receipted() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "50")]).await;
    let dollr = dollr(&app, "client-secret-1");
    let phone = Phone::parse("+256772123456").unwrap();
    let (customer, invoice, session, account) = ready_to_collect(&dollr, &phone).await;
    let again = dollr
        .ensure_customer(Some(customer.clone()), "Amina Lawal", &phone, None, "UG")
        .await
        .unwrap();
    assert_eq!(
        again, customer,
        "a remembered customer is not created twice"
    );

    let reference = Uuid::new_v4();
    let executed = dollr
        .execute_collection(&session, &account, ugx(20_000), reference)
        .await
        .unwrap();
    assert_eq!(
        (executed.raw.as_str(), executed.status.clone()),
        ("PROCESSING", PaymentStatus::Pending)
    );
    assert!(
        matches!(
            dollr.receipt(&invoice).await,
            Err(ProviderError::Rejected { .. })
        ),
        "no receipt before payment"
    );
    // Resending the same execution under the same id answers the one in flight.
    let resent = dollr
        .execute_collection(&session, &account, ugx(20_000), reference)
        .await
        .unwrap();
    assert_eq!(resent.raw, "PROCESSING");

    assert_eq!(
        settled_collection(&dollr, reference).await,
        PaymentStatus::Succeeded
    );
    let receipt = dollr.receipt(&invoice).await.unwrap();
    assert_eq!(receipt["status"], "PAID");
    assert_eq!(receipt["items"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_reference_for_another_payment_is_refused_and_failures_are_reported() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "50")]).await;
    let dollr = dollr(&app, "client-secret-1");
    let failing = Phone::parse("+256772120001").unwrap();
    let (_, _, session, account) = ready_to_collect(&dollr, &failing).await;
    let reference = Uuid::new_v4();
    dollr
        .execute_collection(&session, &account, ugx(20_000), reference)
        .await
        .unwrap();
    assert_eq!(
        settled_collection(&dollr, reference).await,
        PaymentStatus::Failed {
            reason: "Payer declined the request".to_owned()
        }
    );
    let (_, _, other_session, other_account) =
        ready_to_collect(&dollr, &Phone::parse("+256772123456").unwrap()).await;
    let reused = dollr
        .execute_collection(&other_session, &other_account, ugx(20_000), reference)
        .await;
    assert!(
        matches!(reused, Err(ProviderError::DuplicateReference { .. })),
        "{reused:?}"
    );
    assert!(matches!(
        dollr.collection_status(Uuid::new_v4()).await,
        Err(ProviderError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_run_through_their_own_session() {
    let app = spawn_with(&[("COWRY_EMULATOR_SETTLE_MS", "50")]).await;
    let dollr = dollr(&app, "client-secret-1");
    let phone = Phone::parse("+256772123456").unwrap();
    let customer = dollr
        .ensure_customer(None, "Kato Musa", &phone, None, "UG")
        .await
        .unwrap();
    let mmo = dollr.mmo_info(&phone).await.unwrap();
    let account = dollr
        .payment_account("PAYOUT", &customer, "Kato Musa", &phone, &mmo, "UG")
        .await
        .unwrap();
    let reference = Uuid::new_v4();
    let passcode = json!({"token": {"code": "123456", "phone": "256772123456"},
                          "device": {"name": "ops", "type": "server", "platform": "linux", "user_agent": "cowry", "client_ip": "127.0.0.1"}});
    let started = dollr
        .payout(&account, ugx(5_000), reference, passcode)
        .await
        .unwrap();
    assert_eq!(started.status, PaymentStatus::Pending);
    let mut status = started.status;
    for _ in 0..200 {
        status = dollr.payout_status(reference).await.unwrap().status;
        if status.is_final() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, PaymentStatus::Succeeded);
    let no_code = dollr
        .payout(&account, ugx(5_000), Uuid::new_v4(), json!({}))
        .await;
    assert!(
        matches!(no_code, Err(ProviderError::Rejected { .. })),
        "{no_code:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused() {
    let app = spawn_with(&[]).await;
    let result = dollr(&app, "short")
        .mmo_info(&Phone::parse("+256772123456").unwrap())
        .await;
    assert!(
        matches!(result, Err(ProviderError::BadCredentials { .. })),
        "{result:?}"
    );
}

/// Dollr as a rail: an integrated collection and a collect routed to the merchant's Dollr account,
/// completed by polling (Dollr sends no webhooks), receipts kept, parties made once per phone.
mod rail {
    use reqwest::StatusCode;
    use serde_json::{json, Value};

    use crate::collect::FAST;
    use crate::common::{eventually, spawn_with, TestApp};

    async fn status_of(app: &TestApp, path: &str) -> String {
        app.get(path).await.1["data"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn receipts(app: &TestApp) -> Vec<Value> {
        sqlx::query_scalar(
            "select response->'receipt' from provider_attempts
             where kind = 'dollr' and response ? 'receipt' order by created_at",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn collections_and_collects_through_dollr_complete_by_polling_with_receipts() {
        let app = spawn_with(&FAST).await;
        let mut body = crate::common::body_n(1);
        body["amount"] = json!({"value": 25000, "currency": "UGX"});
        body["contact"]["phone"] = json!("+256772123456");
        body["payable"] = json!({"enabled": true, "methods": ["payment_link", "mobile_money"]});
        body["provider"] = json!("dollr");
        let (status, created) = app.create(&body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let data = &created["data"];
        // Dollr has no hosted checkout: the link is Cowry's page; the push went out at creation.
        assert_eq!(
            data["payable"]["options"][0]["link"],
            data["payable"]["payUrl"]
        );
        assert_eq!(data["payable"]["options"][1]["method"], "mobile_money");
        let id = data["id"].as_str().unwrap().to_owned();
        eventually("the Dollr collection to complete by polling", || async {
            (status_of(&app, &format!("/collections/{id}")).await == "completed").then_some(())
        })
        .await;
        let (reference, ids): (String, Value) = sqlx::query_as(
            "select provider_reference, response from provider_attempts
             where kind = 'dollr' and operation = 'execute_collection' and collection_id = $1",
        )
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert!(uuid::Uuid::parse_str(&reference).is_ok(), "{reference}");
        assert!(
            ids["invoiceId"].is_string() && ids["sessionId"].is_string(),
            "{ids}"
        );
        let kept = eventually("the receipt", || async {
            receipts(&app).await.into_iter().next()
        })
        .await;
        assert_eq!(kept["status"], "PAID", "{kept}");

        // A payment-link-only collection is paid through its page's prompt, through Dollr again; the
        // customer's party is the one made before.
        body["reference"] = json!("dollr-link");
        body["payable"]["methods"] = json!(["payment_link"]);
        let (status, created) = app.create(&body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        let (status, sent) = app.post(&format!("/collections/{id}/prompt")).await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
        eventually("the prompted collection to complete", || async {
            (status_of(&app, &format!("/collections/{id}")).await == "completed").then_some(())
        })
        .await;

        // A collect routed to Dollr when the merchant asks for it.
        let (status, collect) = app
            .post_json(
                "/collections/collect",
                &json!({"phone": "+256772123456", "amount": 500, "externalId": "dollr-collect",
                        "provider": "dollr"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{collect}");
        let collect_id = collect["payload"]["id"].as_str().unwrap().to_owned();
        let settled = crate::collect::settled(&app, &collect_id).await;
        assert_eq!(settled["status"], "SUCCESS", "{settled}");
        eventually("three receipts", || async {
            (receipts(&app).await.len() == 3).then_some(())
        })
        .await;
        assert_eq!(
            app.count("select count(*) from provider_parties").await,
            1,
            "one party per phone, reused"
        );
    }
}
