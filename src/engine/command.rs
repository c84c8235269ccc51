//! What an actor asks for.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::ids::{ConventionId, FieldName, ProcedureId, StageId, StateCode, Version};

/// Open a procedure: one State, one convention, on a workflow definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartProcedure {
    pub id: ProcedureId,
    pub state: StateCode,
    pub convention: ConventionId,
    pub comment: Option<String>,
}

/// An act on an existing procedure, at the version the actor saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub expected_version: Version,
    pub act: Act,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "act")]
pub enum Act {
    Advance {
        to: StageId,
        comment: Option<String>,
    },
    Approve {
        comment: Option<String>,
    },
    /// An approver of the stage declines to approve it, saying why. Recorded in the history;
    /// where the stage's approvals name an `on_decline` stage, the procedure goes back there.
    Decline {
        reason: String,
    },
    Record {
        field: FieldName,
        value: String,
        comment: Option<String>,
        /// For a date of entry into force that is not the one the rule gives: the depositary's
        /// publication it is taken from. Ignored for any other field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// The Committee of Ministers extended the invitation to accede to `until`.
    ExtendInvitation {
        until: NaiveDate,
        decision: String,
        comment: Option<String>,
    },
    /// The current stage's deadline is moved to `until` (the consultation of the Parties
    /// extended).
    ExtendDeadline {
        until: NaiveDate,
        reason: String,
    },
    /// A Party objects, in the consultation of the Parties, to inviting the State.
    RaiseObjection {
        party: StateCode,
        text: String,
    },
    /// A Party withdraws its objection.
    WithdrawObjection {
        party: StateCode,
        comment: Option<String>,
    },
    /// The State made a reservation, declaration, designation of an authority or territorial
    /// application (as the depositary records it).
    Reserve {
        kind: super::ReservationKind,
        article: String,
        /// The text by language code.
        text: BTreeMap<String, String>,
        made_at: super::MadeAt,
        made_on: NaiveDate,
        comment: Option<String>,
    },
    /// The State notified the renewal of reservation `number` on `on`: a new period from the
    /// old expiry.
    RenewReservation {
        number: u32,
        on: NaiveDate,
        comment: Option<String>,
    },
    /// The State notified a modification of reservation `number` on `on`, with its new text.
    /// (Whether it only narrows the reservation is not for the tool to judge.)
    ModifyReservation {
        number: u32,
        on: NaiveDate,
        text: BTreeMap<String, String>,
        comment: Option<String>,
    },
    /// The Secretary General received the withdrawal of reservation `number` on `received_on`;
    /// it takes effect then, or on the later `effective_on` the notification states.
    WithdrawReservation {
        number: u32,
        received_on: NaiveDate,
        effective_on: Option<NaiveDate>,
        comment: Option<String>,
    },
    Comment {
        text: String,
    },
    Suspend {
        reason: String,
    },
    Resume {
        comment: Option<String>,
    },
    Withdraw {
        reason: String,
    },
}

impl Act {
    /// The name history records for this act.
    pub fn name(&self) -> &'static str {
        match self {
            Act::Advance { .. } => "advance",
            Act::Approve { .. } => "approve",
            Act::Decline { .. } => "decline",
            Act::Record { .. } => "record",
            Act::Comment { .. } => "comment",
            Act::Suspend { .. } => "suspend",
            Act::Resume { .. } => "resume",
            Act::Withdraw { .. } => "withdraw",
            Act::ExtendInvitation { .. } => "extend_invitation",
            Act::ExtendDeadline { .. } => "extend_deadline",
            Act::RaiseObjection { .. } => "raise_objection",
            Act::WithdrawObjection { .. } => "withdraw_objection",
            Act::Reserve { .. } => "reserve",
            Act::RenewReservation { .. } => "renew_reservation",
            Act::ModifyReservation { .. } => "modify_reservation",
            Act::WithdrawReservation { .. } => "withdraw_reservation",
        }
    }
}
