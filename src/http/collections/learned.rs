//! What each merchant's follow-up history says works (`domain::learning`), read from its sent messages
//! at most once per `COWRY_LEARNING_REFRESH_SECS` per process: a create that needs a default plan does
//! not pay for a query each time, and what is learned changes slowly anyway.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;

use crate::cache::TtlCache;
use crate::domain::learning::{self, Arm};
use crate::store::messages;

/// The latest sends considered.
const TRIALS: i64 = 5000;

/// Each merchant's arms, for `COWRY_LEARNING_REFRESH_SECS` (`cache::TtlCache`; 0 reads them every time).
#[derive(Clone)]
pub struct Learned {
    by_merchant: TtlCache<String, Arc<Vec<Arm>>>,
}

impl Learned {
    pub fn new(refresh: Duration) -> Learned {
        Learned {
            by_merchant: TtlCache::new(refresh),
        }
    }

    pub async fn arms(
        &self,
        pool: &sqlx::PgPool,
        merchant_id: &str,
    ) -> Result<Arc<Vec<Arm>>, sqlx::Error> {
        if let Some(arms) = self.by_merchant.get(merchant_id) {
            return Ok(arms);
        }
        let trials = messages::trials(pool, merchant_id, learning::WINDOW_HOURS, TRIALS).await?;
        let arms = Arc::new(arms_of(&trials));
        self.by_merchant.put(merchant_id.to_owned(), arms.clone());
        Ok(arms)
    }
}

/// Counts per (channel, tone, the customer's local hour band).
fn arms_of(trials: &[messages::Trial]) -> Vec<Arm> {
    let mut counts: HashMap<(String, String, String), (u32, u32)> = HashMap::new();
    for t in trials {
        let zone = crate::domain::phone::Phone::parse(&t.phone)
            .ok()
            .and_then(|p| crate::domain::phone::zone_of(p.country_code()))
            .unwrap_or(chrono_tz::Africa::Lagos);
        let Some(band) = learning::band_of(t.sent_at.with_timezone(&zone).hour()) else {
            continue;
        };
        let entry = counts
            .entry((t.channel.clone(), t.tone.clone(), band.to_owned()))
            .or_default();
        entry.0 += 1;
        entry.1 += u32::from(t.paid);
    }
    counts
        .into_iter()
        .map(|((channel, tone, band), (sent, paid))| Arm {
            channel,
            tone,
            band,
            sent,
            paid,
        })
        .collect()
}
