//! The state machine: `(context, procedure, command, actor, now) -> decision or refusal`.
//!
//! Pure: no I/O, no database, no clock. `store` applies a decision in one transaction; a refusal
//! changes nothing.

mod actor;
mod command;
mod dates;
mod decide;
mod decision;
pub mod effective;
mod fire;
pub mod migrate;
mod notification;
mod refusal;
pub mod reservations;
mod state;
mod timers;

#[cfg(test)]
mod tests;

pub use actor::{Actor, Permission, Role, SYSTEM_INSTITUTION};
pub use command::{Act, Command, StartProcedure};
pub use decide::{Context, ConventionRules, decide, start};
pub use decision::{ApprovalRecord, Decision, Event, TimerChanges, TimerKind, TimerSpec};
pub use effective::{Effective, Stated};
pub use fire::{DueTimer, fire};
pub use notification::{
    CheckpointFacts, MovedOn, Notification, NotificationFacts, NotificationKind, ProcedureFacts,
    SignInFacts, UnknownNotificationKind, checkpoint_notifications, still_applies,
};
pub use refusal::Refusal;
pub use reservations::{
    MadeAt, Reservation, ReservationKind, ReservationRegime, ReservationStatus,
};
pub use state::{
    DeadlineExtension, InvitationExtension, KeyDates, Objection, ProcedureState, Status,
    TreatyRecord, WorkflowRef,
};
pub use timers::deadline_instant;
