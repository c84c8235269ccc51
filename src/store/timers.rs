//! Claiming due timers. A claim is a lease: the rows get the claimer's name and a time after which
//! another instance may take them, so a crashed instance's claims come back. On PostgreSQL the
//! candidate rows are locked `FOR UPDATE SKIP LOCKED`, so instances claiming at the same moment
//! take different rows without waiting; on SQLite the claim is one immediate transaction.
//!
//! The query reads only the partial index over pending timers (`timers_pending_fire_at`): a tick
//! costs what is due, not what exists.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entities::timer;
use super::{Store, StoreError};
use crate::engine::{DueTimer, TimerKind};
use crate::ids::{InstitutionId, ProcedureId, StageId};

/// A timer claimed for firing.
#[derive(Debug, Clone)]
pub struct ClaimedTimer {
    pub id: i64,
    pub procedure: ProcedureId,
    pub timer: DueTimer,
}

impl Store {
    /// Claim up to `limit` pending timers due at `due_at` that nobody holds a live lease on at
    /// `now`, for `owner` until `lease_until`. Earliest first. `due_at` is the time being
    /// evaluated (`run-once --at`); leases are always compared with the real `now`.
    pub async fn claim_due_timers(
        &self,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
        owner: &str,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ClaimedTimer>, StoreError> {
        let mut due = Query::select();
        due.column(timer::Column::Id)
            .from(timer::Entity)
            .and_where(super::status_is(timer::Column::Status, "pending"))
            .and_where(timer::Column::FireAt.lte(due_at))
            .cond_where(
                Condition::any()
                    .add(timer::Column::LeaseUntil.is_null())
                    .add(timer::Column::LeaseUntil.lt(now)),
            )
            .order_by(timer::Column::FireAt, sea_orm::Order::Asc)
            .limit(limit);
        if self.backend() == DbBackend::Postgres {
            due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let txn = self.begin_write().await?;
        let rows = timer::Entity::update_many()
            .col_expr(timer::Column::ClaimedBy, Expr::value(owner))
            .col_expr(timer::Column::LeaseUntil, Expr::value(lease_until))
            .filter(timer::Column::Id.in_subquery(due))
            .exec_with_returning(&txn)
            .await?;
        txn.commit().await?;
        let mut claimed: Vec<ClaimedTimer> = rows
            .into_iter()
            .map(claimed_from_row)
            .collect::<Result<_, _>>()?;
        claimed.sort_by_key(|c| (c.timer.fire_at, c.id));
        Ok(claimed)
    }

    /// Drop a timer that no longer applies (the procedure moved on between claim and firing).
    pub async fn drop_timer(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        timer::Entity::update_many()
            .col_expr(timer::Column::Status, Expr::value("cancelled"))
            .col_expr(timer::Column::FiredAt, Expr::value(now))
            .filter(timer::Column::Id.eq(id))
            .filter(super::status_is(timer::Column::Status, "pending"))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// How many pending timers are due at `now` (for the metrics).
    pub async fn count_due_timers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(timer::Entity::find()
            .filter(super::status_is(timer::Column::Status, "pending"))
            .filter(timer::Column::FireAt.lte(now))
            .count(&self.db)
            .await?)
    }

    /// Pending timers addressed to `institution`, due before `until`, earliest first.
    pub async fn upcoming_timers_for(
        &self,
        institution: &InstitutionId,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ClaimedTimer>, StoreError> {
        // Recipients are a JSON array of slugs: the quoted id narrows the scan in the database
        // (`_` is a LIKE wildcard, so the exact test follows here).
        let rows = timer::Entity::find()
            .filter(super::status_is(timer::Column::Status, "pending"))
            .filter(timer::Column::FireAt.lte(until))
            .filter(timer::Column::Recipients.like(format!("%\"{institution}\"%")))
            .order_by_asc(timer::Column::FireAt)
            .order_by_asc(timer::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut out = Vec::new();
        for row in rows {
            let claimed = claimed_from_row(row)?;
            if claimed.timer.recipients.contains(institution) {
                out.push(claimed);
            }
        }
        Ok(out)
    }

    /// Pending timers of every procedure due before `until`, earliest first (upcoming reminders).
    pub async fn upcoming_timers(
        &self,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ClaimedTimer>, StoreError> {
        Ok(self.upcoming_timers_page(until, None, limit).await?.0)
    }

    /// `upcoming_timers` after the timer `after` (its fire time and id: a keyset on the order),
    /// and whether more follow. Reads at most `limit + 1` rows.
    pub async fn upcoming_timers_page(
        &self,
        until: DateTime<Utc>,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u64,
    ) -> Result<(Vec<ClaimedTimer>, bool), StoreError> {
        use sea_orm::sea_query::{Expr, ExprTrait};
        let mut query = timer::Entity::find()
            .filter(super::status_is(timer::Column::Status, "pending"))
            .filter(timer::Column::FireAt.lte(until))
            .order_by_asc(timer::Column::FireAt)
            .order_by_asc(timer::Column::Id)
            .limit(limit + 1);
        if let Some((fire_at, id)) = after {
            query = query.filter(
                Expr::col(timer::Column::FireAt)
                    .gt(fire_at)
                    .or(Expr::col(timer::Column::FireAt)
                        .eq(fire_at)
                        .and(Expr::col(timer::Column::Id).gt(id))),
            );
        }
        let mut rows = query
            .all(&self.db)
            .await?
            .into_iter()
            .map(claimed_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }
}

fn claimed_from_row(row: timer::Model) -> Result<ClaimedTimer, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("timer {}: {what}", row.id));
    let recipients: Vec<String> =
        serde_json::from_str(&row.recipients).map_err(|e| bad(format!("recipients: {e}")))?;
    Ok(ClaimedTimer {
        id: row.id,
        procedure: ProcedureId::parse(row.procedure_id.clone()).map_err(|e| bad(e.to_string()))?,
        timer: DueTimer {
            dedupe_key: row.dedupe_key.clone(),
            stage: StageId::parse(row.stage.clone()).map_err(|e| bad(e.to_string()))?,
            stage_entry: row.stage_entry,
            kind: TimerKind::parse(&row.kind).ok_or_else(|| bad(format!("kind `{}`", row.kind)))?,
            rule: row.rule.clone(),
            occurrence: row.occurrence,
            fire_at: row.fire_at,
            recipients: recipients
                .into_iter()
                .map(|r| InstitutionId::parse(r).map_err(|e| bad(e.to_string())))
                .collect::<Result<_, _>>()?,
        },
    })
}
