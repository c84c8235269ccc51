//! A procedure as the engine sees it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    ConventionId, FieldName, InstitutionId, ProcedureId, StageId, StateCode, Version, WorkflowId,
};

/// The definition a procedure started on; kept when the file changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkflowRef {
    pub id: WorkflowId,
    pub version: u32,
    pub hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Suspended,
    Withdrawn,
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Withdrawn => "withdrawn",
            Status::Completed => "completed",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "active" => Some(Status::Active),
            "suspended" => Some(Status::Suspended),
            "withdrawn" => Some(Status::Withdrawn),
            "completed" => Some(Status::Completed),
            _ => None,
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Status::Withdrawn | Status::Completed)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The dates of the treaty route that lists, filters and treaty rules need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyDates {
    pub requested_on: Option<NaiveDate>,
    pub invited_on: Option<NaiveDate>,
    pub invitation_expires_on: Option<NaiveDate>,
    pub deposited_on: Option<NaiveDate>,
    pub entry_into_force_computed: Option<NaiveDate>,
    /// As published by the depositary; authoritative when it differs from the computed one.
    pub entry_into_force_recorded: Option<NaiveDate>,
}

impl KeyDates {
    /// True when the depositary's date and the rule's date are both known and differ.
    pub fn entry_into_force_differs(&self) -> bool {
        matches!(
            (self.entry_into_force_computed, self.entry_into_force_recorded),
            (Some(c), Some(r)) if c != r
        )
    }

    /// The date of entry into force to rely on: the recorded one, else the computed one.
    pub fn entry_into_force(&self) -> Option<NaiveDate> {
        self.entry_into_force_recorded
            .or(self.entry_into_force_computed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcedureState {
    pub id: ProcedureId,
    pub state: StateCode,
    pub convention: ConventionId,
    pub workflow: WorkflowRef,
    pub stage: StageId,
    pub stage_entered_at: DateTime<Utc>,
    /// The history sequence of the event that entered the current stage: approvals and timers
    /// belong to one stage entry. A resumption keeps it, so approvals given before stand.
    pub stage_entry: i64,
    pub status: Status,
    pub version: Version,
    pub fields: BTreeMap<FieldName, String>,
    /// Approvals given in the current stage entry.
    pub approvals: BTreeMap<InstitutionId, DateTime<Utc>>,
    pub key_dates: KeyDates,
    pub due_on: Option<NaiveDate>,
    /// The sequence of the last history event.
    pub last_sequence: i64,
}

impl ProcedureState {
    /// Active and past its due date on `today` (a day in the deadlines' time zone). A suspended
    /// procedure is not overdue: nobody is expected to act on it.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.status == Status::Active && self.due_on.is_some_and(|due| due < today)
    }
}
