//! What the engine decided: the new procedure state and everything `store` must write with it, in
//! one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Actor, Notification, ProcedureState};
use crate::ids::{InstitutionId, StageId};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The procedure after the command; its version is the previous one plus one.
    pub procedure: ProcedureState,
    /// The institutions responsible for the stage the decision enters (start, advance), kept by
    /// the store so listings filter on them in SQL; `None` when the stage stays as it was.
    pub responsible: Option<Vec<crate::ids::InstitutionId>>,
    /// History events to append, in order, with their sequence numbers.
    pub events: Vec<Event>,
    pub approval: Option<ApprovalRecord>,
    pub timers: TimerChanges,
    pub notifications: Vec<Notification>,
}

/// One history event. The store adds the chain hashes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub sequence: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub command: String,
    pub from_stage: Option<StageId>,
    pub to_stage: Option<StageId>,
    pub comment: Option<String>,
    /// Command details (field and value, approvals so far, reason, key dates computed…).
    pub payload: serde_json::Value,
    /// When it took effect, if not when it is recorded (`at`): see `engine::effective`.
    pub effective: super::Effective,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRecord {
    pub stage: StageId,
    pub stage_entry: i64,
    pub institution: InstitutionId,
    pub at: DateTime<Utc>,
    pub history_sequence: i64,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TimerChanges {
    /// Cancel every pending timer of the procedure before setting `set`.
    pub cancel_pending: bool,
    /// The timer (by key) this decision fires: marked fired, and only if still pending.
    pub fired: Option<String>,
    pub set: Vec<TimerSpec>,
    /// Cancel the pending reminders of the reservations (planned again in `set`). Reservation
    /// reminders belong to no stage entry: `cancel_pending` leaves them.
    pub cancel_reservation_timers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// A reminder before the due date, or a cron reminder.
    Reminder,
    /// The due date has passed.
    Deadline,
    /// Escalation some time after the due date.
    Escalation,
    /// The day of entry into force for the State has come: Accession records it and moves the
    /// procedure on (a stage due on the entry-into-force rule).
    EntryIntoForce,
    /// A reservation's validity nears its end: the day the Secretary General gives notice, and
    /// the last day to notify its renewal, modification or withdrawal.
    ReservationExpiry,
}

impl TimerKind {
    pub fn parse(text: &str) -> Option<TimerKind> {
        match text {
            "reminder" => Some(TimerKind::Reminder),
            "deadline" => Some(TimerKind::Deadline),
            "escalation" => Some(TimerKind::Escalation),
            "entry_into_force" => Some(TimerKind::EntryIntoForce),
            "reservation_expiry" => Some(TimerKind::ReservationExpiry),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            TimerKind::Reminder => "reminder",
            TimerKind::Deadline => "deadline",
            TimerKind::Escalation => "escalation",
            TimerKind::EntryIntoForce => "entry_into_force",
            TimerKind::ReservationExpiry => "reservation_expiry",
        }
    }
}

impl std::fmt::Display for TimerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimerSpec {
    pub stage: StageId,
    pub stage_entry: i64,
    pub kind: TimerKind,
    /// The rule that set it: `before_due 7 days`, `cron 0 9 * * 1`, `due`, `after_due 7 days`.
    pub rule: String,
    /// For cron reminders, which occurrence this is (0, 1, 2, …); 0 otherwise.
    pub occurrence: i64,
    pub fire_at: DateTime<Utc>,
    pub recipients: Vec<InstitutionId>,
    /// Unique per procedure, stage entry, planning event (the entry, a resumption or a new treaty
    /// date), timer and occurrence: firing twice is impossible, and a timer planned again after
    /// its predecessor was cancelled does not collide with it.
    pub dedupe_key: String,
}
