//! The time Cowry's business rules run on: when an installment is due, which calendar month a debit
//! counts against, whether the schedule's interval has passed, when a collection expires, and which jobs
//! are due. It is the wall clock (to the millisecond) plus an offset that only tests move — no route or
//! setting changes it — so a test can walk a schedule across months and daylight-saving changes without
//! waiting. Leases, timeouts and audit timestamps stay on the real clock: they measure the process, not
//! the business.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Clone, Default, Debug)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        crate::domain::time::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves business time to `to` (from then on it runs on from there). For tests.
    pub fn set(&self, to: DateTime<Utc>) {
        let offset = to - crate::domain::time::now();
        self.offset_ms
            .store(offset.num_milliseconds(), Ordering::Relaxed);
    }

    /// `now() + delay`.
    pub fn in_(&self, delay: std::time::Duration) -> DateTime<Utc> {
        self.now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::hours(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_moves_every_clone_and_time_runs_on() {
        let clock = Clock::default();
        let seen_by_a_worker = clock.clone();
        let to = DateTime::parse_from_rfc3339("2031-03-30T00:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        clock.set(to);
        let now = seen_by_a_worker.now();
        assert!(now >= to && now - to < TimeDelta::seconds(5), "{now}");
        assert!(Clock::default().now() < to);
    }
}
