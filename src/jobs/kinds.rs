//! The job kinds the queue runs: each is a handler with its retry cap. Adding a kind touches its own
//! file and one line here; the queue itself knows no kinds.

use std::future::Future;
use std::pin::Pin;

use super::queue::Outcome;
use super::{
    activation, consent, deadline, debit, deliver, followup, message, notice, receipt, reconcile,
    refund, remainder, transfer, webhook,
};
use crate::store::jobs::Job;
use crate::AppState;

type Run = fn(AppState, Job) -> Pin<Box<dyn Future<Output = Outcome> + Send>>;

pub struct Kind {
    pub name: &'static str,
    /// Consecutive failed runs (errors, or a worker dying mid-run) before the job is kept as `failed`.
    pub max_attempts: i32,
    pub run: Run,
}

pub const KINDS: &[Kind] = &[
    Kind {
        name: reconcile::KIND,
        max_attempts: 25,
        run: |state, job| Box::pin(async move { reconcile::run(&state, &job).await }),
    },
    Kind {
        name: deliver::KIND,
        // Failed runs are database trouble (a receiver's failures reschedule, and do not count).
        max_attempts: 10,
        run: |state, job| Box::pin(async move { deliver::run(&state, &job).await }),
    },
    Kind {
        name: webhook::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { webhook::run(&state, &job).await }),
    },
    Kind {
        name: debit::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { debit::run(&state, &job).await }),
    },
    Kind {
        name: consent::KIND,
        max_attempts: 25,
        run: |state, job| Box::pin(async move { consent::poll(&state, &job).await }),
    },
    Kind {
        name: activation::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { activation::run(&state, &job).await }),
    },
    Kind {
        name: refund::KIND,
        max_attempts: 15,
        run: |state, job| Box::pin(async move { refund::run(&state, &job).await }),
    },
    Kind {
        name: deadline::KIND,
        max_attempts: 25,
        run: |state, job| Box::pin(async move { deadline::run(&state, &job).await }),
    },
    Kind {
        name: notice::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { notice::run(&state, &job).await }),
    },
    Kind {
        name: followup::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { followup::run(&state, &job).await }),
    },
    Kind {
        // A message's own tries are counted on the message (`message::MAX_SENDS`); these are database
        // trouble.
        name: message::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { message::run(&state, &job).await }),
    },
    Kind {
        name: transfer::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { transfer::run(&state, &job).await }),
    },
    Kind {
        name: receipt::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { receipt::run(&state, &job).await }),
    },
    Kind {
        name: remainder::KIND,
        max_attempts: 10,
        run: |state, job| Box::pin(async move { remainder::run(&state, &job).await }),
    },
];

pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}
