//! Group commit: concurrent writes of one kind (creates, provider callbacks' receipts) are written by one
//! statement, so they share one round trip and one commit (the commit's WAL flush and each statement's
//! fixed cost are what limit a write path's rate).
//!
//! The same machinery groups reads by id (`store::read_batch`): what is shared there is the round trip.
//!
//! Requests hand their row to [`GroupCommit::submit`] and wait for their own answer. A few writers take
//! turns at the queue: a writer takes everything waiting (up to [`MAX_BATCH`]) and runs it while the
//! next writer collects what arrives meanwhile, so batches grow with the load and an idle server adds no
//! wait at all. One row runs its own statement ([`Batch::one`]); more run [`Batch::many`], which does
//! the same for each row. The batch is one statement, so it is all or nothing: when it fails (a duplicate
//! reference, text PostgreSQL cannot store, a deadlock between two batches), nothing of it stays, and
//! each row runs again alone, so every request gets its own answer and its own error.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

/// The most rows one statement writes.
pub const MAX_BATCH: usize = 64;

/// A kind of write that can be grouped.
pub trait Batch: Send + Sync + 'static {
    type Row: Send + Sync + 'static;
    type Answer: Send + 'static;
    /// The row alone, in its own statement.
    fn one(
        pool: &PgPool,
        row: &Self::Row,
    ) -> impl Future<Output = Result<Self::Answer, sqlx::Error>> + Send;
    /// The rows in one statement: one answer per row, in the rows' order, or the error that undid
    /// them all.
    #[allow(clippy::type_complexity)]
    fn many(
        pool: &PgPool,
        rows: &[Self::Row],
    ) -> impl Future<Output = Result<Vec<Result<Self::Answer, sqlx::Error>>, sqlx::Error>> + Send;
    /// Records a batch's size (a histogram in `/metrics`).
    fn observe(rows: usize);
}

/// A request's row and where its answer goes.
type Waiting<B> = (
    <B as Batch>::Row,
    oneshot::Sender<Result<<B as Batch>::Answer, sqlx::Error>>,
);

pub struct GroupCommit<B: Batch> {
    pool: PgPool,
    writers: usize,
    /// Started on first use, on the runtime of the request that needs it.
    queue: OnceLock<mpsc::Sender<Waiting<B>>>,
    kind: PhantomData<B>,
}

impl<B: Batch> GroupCommit<B> {
    /// `writers`: how many batches may be in flight at once (each holds one pooled connection); 0 turns
    /// group commit off (each write runs its own statement on its own connection).
    pub fn new(pool: PgPool, writers: usize) -> GroupCommit<B> {
        GroupCommit {
            pool,
            writers,
            queue: OnceLock::new(),
            kind: PhantomData,
        }
    }

    /// Writes the row (with whatever other rows are waiting) and answers with its own answer, or with
    /// the error the row would have met alone.
    pub async fn submit(&self, row: B::Row) -> Result<B::Answer, sqlx::Error> {
        if self.writers == 0 {
            return B::one(&self.pool, &row).await;
        }
        let (answer, answered) = oneshot::channel();
        let queue = self.queue.get_or_init(|| self.start());
        queue
            .send((row, answer))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answered.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    fn start(&self) -> mpsc::Sender<Waiting<B>> {
        let (queue, waiting) = mpsc::channel(MAX_BATCH * 16);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..self.writers {
            tokio::spawn(writer::<B>(self.pool.clone(), waiting.clone()));
        }
        queue
    }
}

/// Takes turns at the queue: waits for a first row, takes whatever else is already waiting, and lets the
/// next writer collect while this batch runs.
async fn writer<B: Batch>(pool: PgPool, waiting: Arc<Mutex<mpsc::Receiver<Waiting<B>>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut queue = waiting.lock().await;
            if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return; // every sender is gone: the server is shutting down
            }
        }
        let (rows, answers): (Vec<B::Row>, Vec<_>) = batch.into_iter().unzip();
        for (answer, result) in answers
            .into_iter()
            .zip(write_batch::<B>(&pool, &rows).await)
        {
            // A request that gave up waiting finds its row written, as it would have alone.
            let _ = answer.send(result);
        }
    }
}

/// Writes the rows in one statement when there are several, else (or when that statement fails) each
/// alone; answers each row's answer or error, in the rows' order.
pub async fn write_batch<B: Batch>(
    pool: &PgPool,
    rows: &[B::Row],
) -> Vec<Result<B::Answer, sqlx::Error>> {
    B::observe(rows.len());
    if rows.len() > 1 {
        match B::many(pool, rows).await {
            Ok(answers) => return answers,
            Err(e) => {
                tracing::debug!(error = %e, rows = rows.len(), "a batched write failed; each row runs alone")
            }
        }
    }
    let mut answers = Vec::with_capacity(rows.len());
    for row in rows {
        answers.push(B::one(pool, row).await);
    }
    answers
}
