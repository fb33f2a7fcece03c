//! The Mona adapter against the Mona emulator: mandate creation, the part Mona documents.

use chrono::{TimeDelta, Utc};
use cowry::config::Secret;
use cowry::domain::{currency::Currency, money::Money};
use cowry::providers::http::{HttpPolicy, ProviderHttp};
use cowry::providers::mona::{DebitType, Mandate, Mona};
use cowry::providers::ProviderError;

use crate::common::spawn;

fn ngn(kobo: i64) -> Money {
    Money::from_minor(kobo, Currency::parse("NGN").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mandate_is_created_awaiting_consent() {
    let app = spawn().await;
    let mona = |key: &str| {
        Mona::new(
            &format!("{}/_emulator/mona", app.base),
            Secret::new(key),
            ProviderHttp::new(HttpPolicy::default()),
        )
    };
    let start = Utc::now() + TimeDelta::days(1);
    let entries = [
        (start, ngn(200_000)),
        (start + TimeDelta::weeks(1), ngn(200_000)),
    ];
    let mandate = Mandate {
        reference: "loan-42",
        maximum: ngn(600_000),
        debit_type: DebitType::Merchant,
        start,
        expiry: start + TimeDelta::weeks(4),
        schedule_type: "SCHEDULED",
        frequency: Some("WEEKLY"),
        amount: Some(ngn(200_000)),
        entries: &entries,
    };
    let created = mona("mona_test_key_1")
        .create_mandate(&mandate)
        .await
        .unwrap();
    assert_eq!(created.id.len(), 24);
    assert!(!created.is_consented);
    assert_eq!(
        (created.status.as_str(), created.maximum),
        ("NOT_STARTED", ngn(600_000))
    );

    let refused = mona("short").create_mandate(&mandate).await;
    assert!(
        matches!(refused, Err(ProviderError::BadCredentials { .. })),
        "{refused:?}"
    );
    let backwards = Mandate {
        expiry: start - TimeDelta::days(1),
        ..mandate.clone()
    };
    match mona("mona_test_key_1").create_mandate(&backwards).await {
        Err(ProviderError::Rejected { message, .. }) => {
            assert_eq!(message, "expiryDate must be after startDate")
        }
        other => panic!("{other:?}"),
    }
    let too_big = [(start, ngn(700_000))];
    let over = Mandate {
        entries: &too_big,
        ..mandate
    };
    assert!(matches!(
        mona("mona_test_key_1").create_mandate(&over).await,
        Err(ProviderError::Rejected { .. })
    ));
}
