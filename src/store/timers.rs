//! Claiming due timers (a lease, see `store::lease`), dropping those that no longer apply, and
//! reading the pending ones. Every read decodes a row the one way, `claimed_from_row`.
//!
//! The claim reads only the partial index over pending timers (`timers_pending_fire_at`): a tick
//! costs what is due, not what exists.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::entities::timer;
use super::lease::Leased;
use super::{Store, StoreError};
use crate::engine::{DueTimer, TimerKind};
use crate::ids::{InstitutionId, ProcedureId, StageId};

/// Where a timer is in its life, as stored in `timers.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerStatus {
    /// Waiting for its time (and, once due, for a scheduler to claim it).
    Pending,
    Fired,
    /// Cancelled by a decision (the stage was left, the procedure suspended, the due date
    /// changed), or dropped when found outdated at firing.
    Cancelled,
}

impl TimerStatus {
    pub const ALL: [TimerStatus; 3] = [
        TimerStatus::Pending,
        TimerStatus::Fired,
        TimerStatus::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TimerStatus::Pending => "pending",
            TimerStatus::Fired => "fired",
            TimerStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<TimerStatus> {
        TimerStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for TimerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for TimerStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TimerStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = TimerStatus::ALL.map(TimerStatus::as_str).into();
            format!(
                "`{text}` is not a timer status; known: {}",
                known.join(", ")
            )
        })
    }
}

/// A timer as stored: its row id, its procedure and status, and the timer itself.
#[derive(Debug, Clone)]
pub struct ClaimedTimer {
    pub id: i64,
    pub procedure: ProcedureId,
    pub status: TimerStatus,
    pub timer: DueTimer,
}

impl Leased for timer::Entity {
    const ID: timer::Column = timer::Column::Id;
    const STATUS: timer::Column = timer::Column::Status;
    const PENDING: &'static str = TimerStatus::Pending.as_str();
    const DUE: timer::Column = timer::Column::FireAt;
    const CLAIMED_BY: timer::Column = timer::Column::ClaimedBy;
    const LEASE_UNTIL: timer::Column = timer::Column::LeaseUntil;

    fn due_and_id(model: &timer::Model) -> (DateTime<Utc>, i64) {
        (model.fire_at, model.id)
    }
}

impl Store {
    /// Claim up to `limit` pending timers due at `due_at` that nobody holds a live lease on at
    /// `now`, for `owner` until `lease_until`. Earliest first, then by id. `due_at` is the time
    /// being evaluated (`run-once --at`); leases are always compared with the real `now`.
    pub async fn claim_due_timers(
        &self,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
        owner: &str,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ClaimedTimer>, StoreError> {
        self.claim_leased::<timer::Entity>(due_at, now, owner, lease_until, limit)
            .await?
            .into_iter()
            .map(claimed_from_row)
            .collect()
    }

    /// Drop a timer that no longer applies (the procedure moved on between claim and firing).
    pub async fn drop_timer(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        timer::Entity::update_many()
            .col_expr(
                timer::Column::Status,
                Expr::value(TimerStatus::Cancelled.as_str()),
            )
            .col_expr(timer::Column::FiredAt, Expr::value(now))
            .filter(timer::Column::Id.eq(id))
            .filter(super::status_is(
                timer::Column::Status,
                TimerStatus::Pending.as_str(),
            ))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// How many pending timers are due at `now` (for the metrics).
    pub async fn count_due_timers(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(timer::Entity::find()
            .filter(super::status_is(
                timer::Column::Status,
                TimerStatus::Pending.as_str(),
            ))
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
            .filter(super::status_is(
                timer::Column::Status,
                TimerStatus::Pending.as_str(),
            ))
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
            .filter(super::status_is(
                timer::Column::Status,
                TimerStatus::Pending.as_str(),
            ))
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

/// The one decoding of a timer row.
pub(super) fn claimed_from_row(row: timer::Model) -> Result<ClaimedTimer, StoreError> {
    let bad = |what: String| StoreError::corrupt(format!("timer {}: {what}", row.id));
    let recipients: Vec<String> =
        serde_json::from_str(&row.recipients).map_err(|e| bad(format!("recipients: {e}")))?;
    Ok(ClaimedTimer {
        id: row.id,
        procedure: ProcedureId::parse(row.procedure_id.clone()).map_err(|e| bad(e.to_string()))?,
        status: TimerStatus::parse(&row.status)
            .ok_or_else(|| bad(format!("status `{}`", row.status)))?,
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
