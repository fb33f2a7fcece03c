//! The MTN MoMo adapter against the MoMo emulator, over real HTTP on loopback.

use std::time::Duration;

use cowry::config::Secret;
use cowry::domain::{currency::Currency, money::Money};
use cowry::providers::http::{HttpPolicy, ProviderHttp};
use cowry::providers::mtn_momo::{self, MomoAccount, MtnMomo, PayRequest};
use cowry::providers::{PaymentStatus, ProviderError};
use uuid::Uuid;

use crate::common::{spawn_with, Receiver, TestApp};

pub const API_USER: &str = "0b2f8e9c-3c59-4a37-9a59-2f0c8d1e6a11";

struct Rig {
    app: TestApp,
    hooks: Receiver,
}

async fn rig() -> Rig {
    let hooks = Receiver::start().await;
    // The emulator calls back only on the registered callback host: the recorder here.
    let app = spawn_with(&[
        ("COWRY_EMULATOR_SETTLE_MS", "50"),
        ("COWRY_EMULATOR_CALLBACK_URL", &hooks.base),
    ])
    .await;
    Rig { app, hooks }
}

impl Rig {
    fn momo_with(&self, api_key: &str, environment: &str) -> MtnMomo {
        let policy = HttpPolicy {
            base_backoff: Duration::from_millis(10),
            ..HttpPolicy::default()
        };
        MtnMomo::new(
            MomoAccount {
                base_url: format!("{}/_emulator/mtn_momo", self.app.base),
                api_user: API_USER.to_owned(),
                api_key: Secret::new(api_key),
                subscription_key: Secret::new("subscription-key-1"),
                target_environment: environment.to_owned(),
            },
            ProviderHttp::new(policy),
            Default::default(),
        )
    }

    fn momo(&self) -> MtnMomo {
        self.momo_with("emulator-api-key", "sandbox")
    }

    fn callback(&self, reference: Uuid) -> String {
        format!(
            "{}/webhooks/mtn_momo?reference={reference}",
            self.hooks.base
        )
    }

    async fn settled(&self, momo: &MtnMomo, reference: Uuid) -> mtn_momo::MomoPayment {
        for _ in 0..200 {
            let payment = momo.status(reference).await.unwrap();
            if payment.status.is_final() {
                return payment;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{reference} never settled");
    }
}

fn ugx(amount: i64) -> Money {
    Money::from_minor(amount, Currency::parse("UGX").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_pay_succeeds_and_the_callback_arrives_once() {
    let rig = rig().await;
    let momo = rig.momo();
    let reference = Uuid::new_v4();
    momo.request_to_pay(&PayRequest {
        reference_id: reference,
        amount: ugx(2_500),
        external_id: "order-1",
        payer_e164: "+256772123456",
        payer_message: "Pay order 1",
        payee_note: "Order 1",
        callback_url: Some(&rig.callback(reference)),
    })
    .await
    .unwrap();
    assert_eq!(
        momo.status(reference).await.unwrap().status,
        PaymentStatus::Pending
    );

    let payment = rig.settled(&momo, reference).await;
    assert_eq!(payment.status, PaymentStatus::Succeeded);
    assert_eq!(payment.amount, ugx(2_500));
    assert_eq!(payment.external_id.as_deref(), Some("order-1"));
    assert!(payment.financial_transaction_id.is_some());

    let hooks = rig.hooks.wait_for(1).await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].path, "/webhooks/mtn_momo");
    let hinted = mtn_momo::parse_callback(&hooks[0].body).unwrap();
    assert_eq!(
        (hinted.status, hinted.amount),
        (PaymentStatus::Succeeded, ugx(2_500))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_reference_is_a_409_and_the_token_is_reused() {
    let rig = rig().await;
    let momo = rig.momo();
    let reference = Uuid::new_v4();
    momo.request_to_pay(&PayRequest {
        reference_id: reference,
        amount: ugx(1_000),
        external_id: "o",
        payer_e164: "+256772123456",
        payer_message: "m",
        payee_note: "n",
        callback_url: None,
    })
    .await
    .unwrap();
    let first_token = momo.token().await.unwrap();
    let again = momo
        .request_to_pay(&PayRequest {
            reference_id: reference,
            amount: ugx(1_000),
            external_id: "o",
            payer_e164: "+256772123456",
            payer_message: "m",
            payee_note: "n",
            callback_url: None,
        })
        .await;
    assert!(
        matches!(again, Err(ProviderError::DuplicateReference { .. })),
        "{again:?}"
    );
    assert_eq!(
        momo.token().await.unwrap(),
        first_token,
        "cached until shortly before it expires"
    );
    assert!(matches!(
        momo.status(Uuid::new_v4()).await,
        Err(ProviderError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_a_wrong_environment_are_refused() {
    let rig = rig().await;
    let wrong_key = rig.momo_with("short", "sandbox");
    let result = wrong_key
        .request_to_pay(&PayRequest {
            reference_id: Uuid::new_v4(),
            amount: ugx(1_000),
            external_id: "o",
            payer_e164: "+256772123456",
            payer_message: "m",
            payee_note: "n",
            callback_url: None,
        })
        .await;
    assert!(
        matches!(result, Err(ProviderError::BadCredentials { .. })),
        "{result:?}"
    );
    // MTN answers a wrong environment with a 500, which on a push cannot be told from a payment it
    // took: only its status API can say (it is `Unknown`).
    let production = rig.momo_with("emulator-api-key", "mtnuganda");
    let result = production
        .request_to_pay(&PayRequest {
            reference_id: Uuid::new_v4(),
            amount: ugx(1_000),
            external_id: "o",
            payer_e164: "+256772123456",
            payer_message: "m",
            payee_note: "n",
            callback_url: None,
        })
        .await;
    assert!(
        matches!(result, Err(ProviderError::Unknown { .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_numbers_fail_stay_pending_stay_silent_or_error_first() {
    let rig = rig().await;
    let momo = rig.momo();
    let (fails, pending, silent, flaky) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    for (reference, phone) in [
        (fails, "+256772120001"),
        (pending, "+256772120002"),
        (silent, "+256772120003"),
        (flaky, "+256772120004"),
    ] {
        momo.request_to_pay(&PayRequest {
            reference_id: reference,
            amount: ugx(1_000),
            external_id: "o",
            payer_e164: phone,
            payer_message: "m",
            payee_note: "n",
            callback_url: Some(&rig.callback(reference)),
        })
        .await
        .unwrap();
    }
    let failed = rig.settled(&momo, fails).await;
    assert_eq!(
        failed.status,
        PaymentStatus::Failed {
            reason: "NOT_ENOUGH_FUNDS".to_owned()
        },
        "a failure is still HTTP 200"
    );
    assert_eq!(
        rig.settled(&momo, silent).await.status,
        PaymentStatus::Succeeded
    );
    assert_eq!(
        rig.settled(&momo, flaky).await.status,
        PaymentStatus::Succeeded,
        "the 500 was retried under the same id"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        momo.status(pending).await.unwrap().status,
        PaymentStatus::Pending
    );
    let hooks = rig.hooks.wait_for(2).await;
    let paths: Vec<String> = hooks
        .iter()
        .map(|h| String::from_utf8_lossy(&h.body).into_owned())
        .collect();
    assert_eq!(
        hooks.len(),
        2,
        "the failure and the flaky success call back; …0002 and …0003 do not: {paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_holders_can_be_checked() {
    let rig = rig().await;
    assert!(rig.momo().is_active("+256772123456").await.unwrap());
}
