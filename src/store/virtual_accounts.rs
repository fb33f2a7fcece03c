//! Virtual accounts: a provider customer's dedicated account (made once, reused for every collection
//! of that customer), and the collections shown an account number, for matching transfers into it.

use sqlx::{PgConnection, PgExecutor};

use crate::domain::transfer::Candidate;
use crate::providers::DedicatedAccount;

/// The customer's dedicated account at this provider account, if one was made before.
pub async fn for_email(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    provider: &str,
    email: &str,
) -> Result<Option<DedicatedAccount>, sqlx::Error> {
    sqlx::query_as(
        "select customer_code, bank_name, account_number, account_name from virtual_accounts
         where merchant_id = $1 and provider = $2 and email = lower($3)",
    )
    .bind(merchant_id)
    .bind(provider)
    .bind(email)
    .fetch_optional(db)
    .await
}

/// Keeps a dedicated account for reuse; the first one kept for an email stays.
pub async fn save(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    provider: &str,
    email: &str,
    account: &DedicatedAccount,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into virtual_accounts (merchant_id, provider, email, customer_code, bank_name,
                                       account_number, account_name)
         values ($1, $2, lower($3), $4, $5, $6, $7)
         on conflict (merchant_id, provider, email) do nothing",
    )
    .bind(merchant_id)
    .bind(provider)
    .bind(email)
    .bind(&account.customer_code)
    .bind(&account.bank_name)
    .bind(&account.account_number)
    .bind(&account.account_name)
    .execute(db)
    .await?;
    Ok(())
}

/// The (merchant, provider account) pairs that keep this dedicated account number: where a callback
/// naming no Cowry reference is verified and routed.
pub async fn owners(
    db: impl PgExecutor<'_>,
    account_number: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select distinct merchant_id, provider from virtual_accounts where account_number = $1 limit 5",
    )
    .bind(account_number)
    .fetch_all(db)
    .await
}

/// The collections of this provider account shown `account_number`, oldest first: every open one
/// (locked, so two transfers into one account are matched one at a time) and the newest closed one.
pub async fn candidates(
    conn: &mut PgConnection,
    merchant_id: &str,
    provider: &str,
    account_number: &str,
) -> Result<Vec<Candidate>, sqlx::Error> {
    // FOR UPDATE cannot sit in a UNION: the open ones are locked by one query, the closed one read by
    // another.
    let mut rows: Vec<(String, bool, String, i64)> = sqlx::query_as(
        "select id, true, currency::text, amount_minor - amount_paid_minor from collections
         where virtual_account = $3 and merchant_id = $1 and provider = $2 and status in ('pending', 'overdue')
         order by created_at, id for update",
    )
    .bind(merchant_id)
    .bind(provider)
    .bind(account_number)
    .fetch_all(&mut *conn)
    .await?;
    let closed: Option<(String, bool, String, i64)> = sqlx::query_as(
        "select id, false, currency::text, amount_minor - amount_paid_minor from collections
         where virtual_account = $3 and merchant_id = $1 and provider = $2
           and status not in ('pending', 'overdue')
         order by created_at desc, id desc limit 1",
    )
    .bind(merchant_id)
    .bind(provider)
    .bind(account_number)
    .fetch_optional(&mut *conn)
    .await?;
    // Oldest first: a closed collection only matters when no open one does, so its place is last.
    rows.extend(closed);
    Ok(rows
        .into_iter()
        .map(|(id, open, currency, remaining_minor)| Candidate {
            id,
            open,
            currency: currency.trim().to_owned(),
            remaining_minor,
        })
        .collect())
}

/// Sandbox account serials, unique across merchants and processes: taken from a sequence 1,000 at a
/// time (one round trip per thousand collections), handed out from memory in between.
pub struct SandboxSerials {
    /// `None`: counted in memory only (unit tests).
    pool: Option<sqlx::PgPool>,
    /// The block in hand: the next serial, and the end of the block (exclusive).
    block: std::sync::Mutex<(i64, i64)>,
}

/// Serials per block: the sequence's increment (migration 0013).
const BLOCK: i64 = 1000;

impl SandboxSerials {
    pub fn new(pool: sqlx::PgPool) -> SandboxSerials {
        SandboxSerials {
            pool: Some(pool),
            block: std::sync::Mutex::new((0, 0)),
        }
    }

    pub fn in_memory() -> SandboxSerials {
        SandboxSerials {
            pool: None,
            block: std::sync::Mutex::new((1, i64::MAX)),
        }
    }

    pub async fn next(&self) -> Result<i64, sqlx::Error> {
        if let Some(serial) = self.take() {
            return Ok(serial);
        }
        let Some(pool) = &self.pool else {
            return Err(sqlx::Error::PoolClosed);
        };
        // Two tasks that both found the block empty each get a block of their own; the one stored last
        // wins and the other's rest goes unused (never given twice).
        let start: i64 = sqlx::query_scalar("select nextval('sandbox_account_serials')")
            .fetch_one(pool)
            .await?;
        *self.block.lock().expect("serials") = (start + 1, start + BLOCK);
        Ok(start)
    }

    fn take(&self) -> Option<i64> {
        let mut block = self.block.lock().expect("serials");
        (block.0 < block.1).then(|| {
            block.0 += 1;
            block.0 - 1
        })
    }
}

/// What an open collection still owes (`None` once it closed).
pub async fn owed(
    db: impl PgExecutor<'_>,
    merchant_id: &str,
    id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select amount_minor - amount_paid_minor from collections
         where merchant_id = $1 and id = $2 and status in ('pending', 'overdue')",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The test-mode merchant whose sandbox collection was given this account number (numbers are unique).
pub async fn sandbox_owner(
    db: impl PgExecutor<'_>,
    account_number: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select c.merchant_id from collections c join merchants m on m.id = c.merchant_id
         where c.virtual_account = $1 and c.provider = 'sandbox' and m.mode = 'test' limit 1",
    )
    .bind(account_number)
    .fetch_optional(db)
    .await
}
