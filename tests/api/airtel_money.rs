//! The Airtel Money adapter against the Airtel emulator, over real HTTP on loopback.

use std::time::Duration;

use cowry::config::Secret;
use cowry::domain::{currency::Currency, money::Money, phone::Phone};
use cowry::providers::airtel_money::{self, AirtelAccount, AirtelMoney};
use cowry::providers::http::{HttpPolicy, ProviderHttp};
use cowry::providers::{PaymentStatus, ProviderError};

use crate::common::{spawn_with, Receiver, TestApp};

struct Rig {
    app: TestApp,
    hooks: Receiver,
}

async fn rig() -> Rig {
    let hooks = Receiver::start().await;
    let app = spawn_with(&[
        ("COWRY_PUBLIC_URL", &hooks.base),
        ("COWRY_EMULATOR_CALLBACK_URL", &hooks.base),
        ("COWRY_EMULATOR_SETTLE_MS", "50"),
    ])
    .await;
    Rig { app, hooks }
}

impl Rig {
    fn airtel_with(&self, secret: &str, country: &str, currency: &str) -> AirtelMoney {
        let policy = HttpPolicy {
            base_backoff: Duration::from_millis(10),
            ..HttpPolicy::default()
        };
        AirtelMoney::new(
            AirtelAccount {
                base_url: format!("{}/_emulator/airtel_money", self.app.base),
                client_id: "client-1".to_owned(),
                client_secret: Secret::new(secret),
                country: country.to_owned(),
                currency: currency.to_owned(),
                sign_payments: false,
            },
            ProviderHttp::new(policy),
            Default::default(),
        )
    }

    fn airtel(&self) -> AirtelMoney {
        self.airtel_with("client-secret-1", "UG", "UGX")
    }

    async fn settled(&self, airtel: &AirtelMoney, id: &str) -> airtel_money::AirtelPayment {
        for _ in 0..200 {
            let payment = airtel.status(id).await.unwrap();
            if payment.status.is_final() {
                return payment;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{id} never settled");
    }
}

fn ugx(amount: i64) -> Money {
    Money::from_minor(amount, Currency::parse("UGX").unwrap())
}

fn phone(text: &str) -> Phone {
    Phone::parse(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_payment_is_accepted_then_paid_and_called_back() {
    let rig = rig().await;
    let airtel = rig.airtel();
    let accepted = airtel
        .collect("cwr-1", "Order 1", ugx(2_500), &phone("+256752123456"))
        .await
        .unwrap();
    assert_eq!(
        accepted,
        PaymentStatus::Pending,
        "200 means accepted, not paid"
    );
    let paid = rig.settled(&airtel, "cwr-1").await;
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert!(paid.airtel_money_id.is_some());
    let hooks = rig.hooks.wait_for(1).await;
    assert_eq!(hooks[0].path, "/webhooks/airtel_money");
    let hint = airtel_money::parse_callback(&hooks[0].body).unwrap();
    assert_eq!(
        (hint.transaction_id.as_str(), hint.status),
        ("cwr-1", PaymentStatus::Succeeded)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_pending_silence_and_first_errors_follow_the_magic_numbers() {
    let rig = rig().await;
    let airtel = rig.airtel();
    for (id, number) in [
        ("f", "+256752120001"),
        ("p", "+256752120002"),
        ("s", "+256752120003"),
    ] {
        airtel
            .collect(id, "o", ugx(1_000), &phone(number))
            .await
            .unwrap();
    }
    assert_eq!(
        rig.settled(&airtel, "f").await.status,
        PaymentStatus::Failed {
            reason: "insufficient funds".to_owned()
        }
    );
    assert_eq!(
        rig.settled(&airtel, "s").await.status,
        PaymentStatus::Succeeded
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        airtel.status("p").await.unwrap().status,
        PaymentStatus::Pending
    );
    assert_eq!(
        rig.hooks.all().len(),
        1,
        "only the failure calls back: …0002 never settles, …0003 is silent"
    );

    // A request that may have reached Airtel is sent once: its 500 is not retried, and says nothing
    // about whether the payment exists.
    let flaky = airtel
        .collect("e", "o", ugx(1_000), &phone("+256752120004"))
        .await;
    assert!(
        matches!(flaky, Err(ProviderError::Unknown { .. })),
        "{flaky:?}"
    );
    assert!(
        matches!(
            airtel.status("e").await,
            Err(ProviderError::NotFound { .. })
        ),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_markets_are_checked() {
    let rig = rig().await;
    let bad = rig
        .airtel_with("short", "UG", "UGX")
        .collect("x", "o", ugx(1_000), &phone("+256752123456"))
        .await;
    assert!(
        matches!(bad, Err(ProviderError::BadCredentials { .. })),
        "{bad:?}"
    );
    let wrong_market = rig
        .airtel_with("client-secret-1", "UG", "KES")
        .collect("y", "o", ugx(1_000), &phone("+256752123456"))
        .await;
    assert!(
        matches!(wrong_market, Err(ProviderError::Unsupported { .. })),
        "{wrong_market:?}"
    );
    let kes = Money::from_minor(1_000, Currency::parse("KES").unwrap());
    let mismatched = rig
        .airtel_with("client-secret-1", "UG", "KES")
        .collect("z", "o", kes, &phone("+256752123456"))
        .await;
    assert!(
        matches!(mismatched, Err(ProviderError::Rejected { .. })),
        "UG with KES is no market: {mismatched:?}"
    );
}
