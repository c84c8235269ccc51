//! Claiming due rows with a lease, for timers and outbox rows alike. A claim gives the rows the
//! claimer's name and a time after which another instance may take them, so a crashed
//! instance's claims come back by themselves. On PostgreSQL the candidate rows are locked
//! `FOR UPDATE SKIP LOCKED`, so instances claiming at the same moment take different rows
//! without waiting; on SQLite the claim is one immediate transaction.
//!
//! The order is deterministic: due time, then id. A batch smaller than what is due takes the
//! earliest rows, and among rows due at the same instant the oldest, on both databases.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter};

use super::{Store, StoreError};

/// A table whose pending rows are claimed with a lease.
pub(super) trait Leased: EntityTrait {
    const ID: Self::Column;
    /// Holds `pending` while the row waits to be claimed (see `PENDING`).
    const STATUS: Self::Column;
    /// The stored status of a row waiting to be claimed.
    const PENDING: &'static str;
    /// When the row is due.
    const DUE: Self::Column;
    const CLAIMED_BY: Self::Column;
    const LEASE_UNTIL: Self::Column;

    /// The row's due time and id, the order claims are made and returned in.
    fn due_and_id(model: &Self::Model) -> (DateTime<Utc>, i64);
}

impl Store {
    /// Claim up to `limit` pending rows of `E` due at `due_at` that nobody holds a live lease on
    /// at `now`, for `owner` until `lease_until`, earliest first (then by id). `due_at` is the
    /// time being evaluated (`run-once --at`); leases are always compared with the real `now`,
    /// so such a run never takes rows a live instance holds.
    pub(super) async fn claim_leased<E: Leased>(
        &self,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
        owner: &str,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<E::Model>, StoreError> {
        let mut due = Query::select();
        due.column(E::ID)
            .from(E::default())
            .and_where(super::status_is(E::STATUS, E::PENDING))
            .and_where(E::DUE.lte(due_at))
            .cond_where(
                Condition::any()
                    .add(E::LEASE_UNTIL.is_null())
                    .add(E::LEASE_UNTIL.lt(now)),
            )
            .order_by(E::DUE, sea_orm::Order::Asc)
            .order_by(E::ID, sea_orm::Order::Asc)
            .limit(limit);
        if self.backend() == DbBackend::Postgres {
            due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let txn = self.begin_write().await?;
        let mut rows = E::update_many()
            .col_expr(E::CLAIMED_BY, Expr::value(owner))
            .col_expr(E::LEASE_UNTIL, Expr::value(lease_until))
            .filter(E::ID.in_subquery(due))
            .exec_with_returning(&txn)
            .await?;
        txn.commit().await?;
        // RETURNING gives rows in no promised order.
        rows.sort_by_key(E::due_and_id);
        Ok(rows)
    }
}
