//! The Paystack adapter against the Paystack emulator, over real HTTP on loopback.

use std::time::Duration;

use cowry::config::Secret;
use cowry::domain::{currency::Currency, money::Money, nuban};
use cowry::providers::http::{HttpPolicy, ProviderHttp};
use cowry::providers::paystack::{self, ChargeSource, Paystack, WebhookEvent};
use cowry::providers::{PaymentStatus, ProviderError};

use crate::common::{spawn_with, Receiver, TestApp};

const SECRET: &str = "sk_test_emulator_secret";
const SETTLE_MS: &str = "50";

struct Rig {
    app: TestApp,
    hooks: Receiver,
}

async fn rig() -> Rig {
    let hooks = Receiver::start().await;
    let app = spawn_with(&[
        ("COWRY_PUBLIC_URL", &hooks.base),
        ("COWRY_EMULATOR_CALLBACK_URL", &hooks.base),
        ("COWRY_EMULATOR_SETTLE_MS", SETTLE_MS),
    ])
    .await;
    Rig { app, hooks }
}

impl Rig {
    fn paystack(&self, secret: &str) -> Paystack {
        let policy = HttpPolicy {
            base_backoff: Duration::from_millis(10),
            ..HttpPolicy::default()
        };
        Paystack::new(
            &format!("{}/_emulator/paystack", self.app.base),
            Secret::new(secret),
            ProviderHttp::new(policy),
        )
    }

    /// Polls verify (bounded) until the payment is final.
    async fn settled(&self, reference: &str) -> paystack::Verified {
        let paystack = self.paystack(SECRET);
        for _ in 0..200 {
            let verified = paystack.verify(reference).await.unwrap();
            if verified.status.is_final() {
                return verified;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{reference} never settled");
    }
}

fn ngn(minor: i64) -> Money {
    Money::from_minor(minor, Currency::parse("NGN").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_link_is_paid_and_the_signed_webhook_arrives() {
    let rig = rig().await;
    let paystack = rig.paystack(SECRET);
    let link = paystack
        .initialize(
            "amina@example.com",
            ngn(4_500_000),
            "PSK-txn-1",
            &["card"],
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(link.reference, "PSK-txn-1");
    assert!(link
        .authorization_url
        .contains("/_emulator/paystack/checkout/"));
    assert!(!link.access_code.is_empty());

    let verified = rig.settled("PSK-txn-1").await;
    assert_eq!(verified.status, PaymentStatus::Succeeded);
    assert_eq!(verified.amount, ngn(4_500_000));
    assert!(verified
        .authorization_code
        .as_deref()
        .is_some_and(|c| c.starts_with("AUTH_")));

    let hooks = rig.hooks.wait_for(1).await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].path, "/webhooks/paystack");
    let signature = hooks[0].headers["x-paystack-signature"].to_str().unwrap();
    assert!(
        paystack::verify_signature(SECRET, &hooks[0].body, signature),
        "signed with the integration's secret"
    );
    assert!(!paystack::verify_signature(
        "sk_test_someone_else",
        &hooks[0].body,
        signature
    ));
    assert_eq!(
        paystack::parse_webhook(&hooks[0].body).unwrap(),
        WebhookEvent::ChargeSuccess {
            reference: "PSK-txn-1".to_owned(),
            amount: ngn(4_500_000)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_reference_is_a_duplicate_and_bad_keys_are_refused() {
    let rig = rig().await;
    let paystack = rig.paystack(SECRET);
    paystack
        .initialize("a@example.com", ngn(10_000), "ref-dup", &[], None, None)
        .await
        .unwrap();
    let again = paystack
        .initialize("a@example.com", ngn(10_000), "ref-dup", &[], None, None)
        .await;
    assert!(
        matches!(again, Err(ProviderError::DuplicateReference { .. })),
        "{again:?}"
    );
    // Another integration's references are its own.
    rig.paystack("sk_test_second_integration")
        .initialize("a@example.com", ngn(10_000), "ref-dup", &[], None, None)
        .await
        .unwrap();

    let bad = rig
        .paystack("sk_live_wrong")
        .initialize("a@example.com", ngn(10_000), "ref-x", &[], None, None)
        .await;
    assert!(
        matches!(bad, Err(ProviderError::BadCredentials { .. })),
        "{bad:?}"
    );
    let rejected = paystack
        .initialize("not-an-email", ngn(10_000), "ref-y", &[], None, None)
        .await;
    match rejected {
        Err(ProviderError::Rejected { message, .. }) => {
            assert_eq!(message, "Invalid Email Address Passed")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        paystack.verify("never-made").await,
        Err(ProviderError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_amounts_fail_stay_pending_or_stay_silent() {
    let rig = rig().await;
    let paystack = rig.paystack(SECRET);
    paystack
        .initialize("a@example.com", ngn(10_001), "fails", &[], None, None)
        .await
        .unwrap();
    paystack
        .initialize("a@example.com", ngn(10_002), "pending", &[], None, None)
        .await
        .unwrap();
    paystack
        .initialize("a@example.com", ngn(10_003), "silent", &[], None, None)
        .await
        .unwrap();

    assert_eq!(
        rig.settled("fails").await.status,
        PaymentStatus::Failed {
            reason: "Declined".to_owned()
        }
    );
    assert_eq!(rig.settled("silent").await.status, PaymentStatus::Succeeded);
    // Well past the settle delay, the …02 payment is still waiting on the customer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        paystack.verify("pending").await.unwrap().status,
        PaymentStatus::Pending
    );
    // Paystack sends transaction webhooks only for successes, and …03 never calls back.
    assert!(rig.hooks.all().is_empty(), "{:?}", rig.hooks.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_on_the_first_attempt_is_retried_because_the_reference_makes_it_safe() {
    let rig = rig().await;
    let link = rig
        .paystack(SECRET)
        .initialize("a@example.com", ngn(10_004), "flaky", &[], None, None)
        .await
        .unwrap();
    assert_eq!(link.reference, "flaky");
    assert_eq!(rig.settled("flaky").await.status, PaymentStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mobile_money_charges_wait_for_the_customer_then_settle() {
    let rig = rig().await;
    let paystack = rig.paystack(SECRET);
    let ghs = Money::from_minor(2_500, Currency::parse("GHS").unwrap());
    let charged = paystack
        .charge(
            "kofi@example.com",
            ghs,
            "momo-1",
            ChargeSource::MobileMoney {
                phone: "0551234987",
                network: "mtn",
            },
        )
        .await
        .unwrap();
    assert_eq!(charged.status, PaymentStatus::Pending);
    assert!(charged.display_text.is_some());
    let verified = rig.settled("momo-1").await;
    assert_eq!(
        (verified.status, verified.amount),
        (PaymentStatus::Succeeded, ghs)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_authorization_is_charged_again_for_recurring_debits() {
    let rig = rig().await;
    let paystack = rig.paystack(SECRET);
    paystack
        .initialize(
            "ada@example.com",
            ngn(50_000),
            "first",
            &["card"],
            None,
            None,
        )
        .await
        .unwrap();
    let code = rig
        .settled("first")
        .await
        .authorization_code
        .expect("a reusable authorization");

    let debit = paystack
        .charge_authorization("ada@example.com", ngn(50_000), &code, "second")
        .await
        .unwrap();
    assert_eq!(
        (debit.status, debit.reference.as_str()),
        (PaymentStatus::Succeeded, "second")
    );
    let declined = paystack
        .charge_authorization("ada@example.com", ngn(50_001), &code, "third")
        .await
        .unwrap();
    assert_eq!(
        declined.status,
        PaymentStatus::Failed {
            reason: "Declined".to_owned()
        }
    );
    let stranger = paystack
        .charge_authorization("eve@example.com", ngn(50_000), &code, "fourth")
        .await;
    assert!(
        matches!(stranger, Err(ProviderError::Rejected { .. })),
        "{stranger:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedicated_accounts_are_valid_nubans_in_the_customers_name() {
    let rig = rig().await;
    let paystack = rig.paystack(SECRET);
    let account = paystack
        .dedicated_account(
            "amina@example.com",
            "Amina",
            "Lawal",
            "+2348012345678",
            "test-bank",
        )
        .await
        .unwrap();
    assert_eq!(account.account_name, "Amina Lawal");
    assert_eq!(account.bank_name, "Test Bank");
    assert!(
        nuban::is_valid("999", &account.account_number),
        "{}",
        account.account_number
    );
    let again = paystack
        .dedicated_account(
            "AMINA@example.com",
            "Amina",
            "Lawal",
            "+2348012345678",
            "test-bank",
        )
        .await
        .unwrap();
    assert_eq!(
        again.account_number, account.account_number,
        "one customer, one account"
    );
}
