//! Upcoming reminders, deadlines and escalations: one procedure's (for whoever may read it), every
//! procedure's (for the roles that hold `ReadTimers`), and an institution's (for its calendar
//! feed).

use chrono::{DateTime, Utc};

use super::{Accession, AppError};
use crate::engine::{Actor, Permission};
use crate::ids::{InstitutionId, ProcedureId};
use crate::store::{ClaimedTimer, TimerRow};

impl Accession {
    /// Procedure `id`'s pending timers, for `caller`: not found (404) when there is no such
    /// procedure or the caller may not read it.
    pub async fn procedure_timers(
        &self,
        caller: &Actor,
        id: &ProcedureId,
    ) -> Result<Vec<TimerRow>, AppError> {
        self.readable(id, caller).await?;
        Ok(self.store.timers(id, false).await?)
    }

    /// Up to `limit` pending timers of every procedure due before `until`, earliest first, after
    /// the timer `after` (its fire time and id: a keyset on the order), and whether more follow.
    /// Refused (403) unless the caller may see every procedure's timers.
    pub async fn upcoming_timers(
        &self,
        caller: &Actor,
        until: DateTime<Utc>,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u64,
    ) -> Result<(Vec<ClaimedTimer>, bool), AppError> {
        caller.may(Permission::ReadTimers)?;
        Ok(self.store.upcoming_timers_page(until, after, limit).await?)
    }

    /// Up to `limit` pending timers addressed to `institution`, due before `until`, earliest
    /// first: what its calendar feed shows. The feed's key names the institution, so the key is
    /// the caller and no role is asked.
    pub async fn upcoming_timers_for(
        &self,
        institution: &InstitutionId,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<ClaimedTimer>, AppError> {
        Ok(self
            .store
            .upcoming_timers_for(institution, until, limit)
            .await?)
    }
}
