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

/// An extension of the invitation to accede by the Committee of Ministers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvitationExtension {
    /// The new last day of validity.
    pub until: NaiveDate,
    /// The reference of the decision that extended it (e.g. `CM/Del/Dec(2023)1455/10.1`).
    pub decision: String,
    /// The last day of validity before this extension.
    pub previous_until: Option<NaiveDate>,
    /// The history event that recorded it.
    pub sequence: i64,
}

/// An objection of a Party, raised in the consultation of the Parties before an invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Objection {
    pub party: StateCode,
    pub text: String,
    pub raised_on: NaiveDate,
    pub withdrawn_on: Option<NaiveDate>,
}

/// A stage's deadline moved later (the consultation of the Parties extended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadlineExtension {
    /// The stage entry it belongs to; a later entry of the stage runs its own period.
    pub stage_entry: i64,
    pub until: NaiveDate,
    pub reason: String,
}

/// What the treaty record holds besides fields and key dates: extensions, objections and the
/// source of a depositary's date of entry into force. Stored as one JSON document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TreatyRecord {
    pub invitation_extensions: Vec<InvitationExtension>,
    pub objections: Vec<Objection>,
    pub deadline_extension: Option<DeadlineExtension>,
    /// Where the recorded date of entry into force comes from, when it is the depositary's own
    /// and not the rule's (a notification, the chart of signatures and ratifications).
    pub entry_into_force_source: Option<String>,
    /// Reservations, declarations, designations of authorities and territorial applications,
    /// by number.
    pub reservations: Vec<super::reservations::Reservation>,
}

impl TreatyRecord {
    /// Reservation number `number`.
    pub fn reservation(&self, number: u32) -> Option<&super::reservations::Reservation> {
        self.reservations.iter().find(|r| r.number == number)
    }

    /// The objections not withdrawn.
    pub fn standing_objections(&self) -> impl Iterator<Item = &Objection> {
        self.objections.iter().filter(|o| o.withdrawn_on.is_none())
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
    #[serde(default)]
    pub treaty: TreatyRecord,
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
