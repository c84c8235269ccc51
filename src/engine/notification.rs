//! What the engine tells institutions: the kind of each email, the facts it states, and whether
//! a queued one still applies when its turn to be sent comes. The store keeps the facts as JSON
//! with the email; the dispatcher renders them, adding only names and titles.
//!
//! Most emails are about a procedure (`ProcedureFacts`). A signed checkpoint of the history log
//! belongs to none: it goes to every institution with an auditor (`CheckpointFacts`).

use std::fmt;
use std::str::FromStr;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::{ProcedureState, Status};
use crate::audit::checkpoint::Checkpoint;
use crate::ids::{InstitutionId, ProcedureId, StageId};

/// Why an email is sent. Each kind has its own three template files, named after it; the same
/// name is stored in the outbox and sent in the `X-Accession-Kind` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A stage was entered: the responsible institutions must act.
    ActionNeeded,
    /// A reminder timer fired: a due date approaches, or a cron reminder.
    Reminder,
    /// A stage's due date passed without it being left.
    #[serde(rename = "deadline")]
    DeadlinePassed,
    /// Some time after the due date: the matter goes up.
    Escalation,
    /// A stage asks these institutions for their approval.
    ApprovalRequested,
    /// The procedure reached a terminal stage.
    ProcedureCompleted,
    /// The convention entered (or will enter) into force for the State.
    EntryIntoForce,
    /// A reservation's validity nears its end (notice of expiry; the last day to answer).
    ReservationExpiry,
    /// A signed checkpoint of the history log, for an auditor institution to keep. About no
    /// procedure.
    Checkpoint,
    /// A one-time link to sign in to the pages, for one person (to their own address, not their
    /// institution's). About no procedure.
    SignInLink,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 10] = [
        NotificationKind::ActionNeeded,
        NotificationKind::Reminder,
        NotificationKind::DeadlinePassed,
        NotificationKind::Escalation,
        NotificationKind::ApprovalRequested,
        NotificationKind::ProcedureCompleted,
        NotificationKind::EntryIntoForce,
        NotificationKind::ReservationExpiry,
        NotificationKind::Checkpoint,
        NotificationKind::SignInLink,
    ];

    /// The stored name: in the outbox, template file names and the mail headers.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationKind::ActionNeeded => "action_needed",
            NotificationKind::Reminder => "reminder",
            NotificationKind::DeadlinePassed => "deadline",
            NotificationKind::Escalation => "escalation",
            NotificationKind::ApprovalRequested => "approval_requested",
            NotificationKind::ProcedureCompleted => "procedure_completed",
            NotificationKind::EntryIntoForce => "entry_into_force",
            NotificationKind::ReservationExpiry => "reservation_expiry",
            NotificationKind::Checkpoint => "checkpoint",
            NotificationKind::SignInLink => "sign_in_link",
        }
    }

    pub fn parse(text: &str) -> Option<NotificationKind> {
        NotificationKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
    }

    /// Whether the email calls on its recipients about the stage it names (to act, approve, or
    /// because a date of the stage came): such an email is stale once the procedure has left
    /// that stage entry. News of a completion or of entry into force never is.
    pub fn is_about_the_stage(self) -> bool {
        match self {
            NotificationKind::ActionNeeded
            | NotificationKind::ApprovalRequested
            | NotificationKind::Reminder
            | NotificationKind::DeadlinePassed
            | NotificationKind::Escalation => true,
            NotificationKind::ProcedureCompleted
            | NotificationKind::EntryIntoForce
            | NotificationKind::ReservationExpiry
            | NotificationKind::Checkpoint
            | NotificationKind::SignInLink => false,
        }
    }

    /// Whether the email is about a procedure, and so states `ProcedureFacts`; a checkpoint's
    /// is not (it states `CheckpointFacts`), nor a sign-in link's (`SignInFacts`).
    pub fn is_about_a_procedure(self) -> bool {
        !matches!(
            self,
            NotificationKind::Checkpoint | NotificationKind::SignInLink
        )
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no kind of notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNotificationKind(pub String);

impl fmt::Display for UnknownNotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = NotificationKind::ALL.map(NotificationKind::as_str).into();
        write!(
            f,
            "`{}` is not a kind of notification; known: {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownNotificationKind {}

impl FromStr for NotificationKind {
    type Err = UnknownNotificationKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NotificationKind::parse(text).ok_or_else(|| UnknownNotificationKind(text.to_string()))
    }
}

/// What an email about a procedure states, decided with the event that causes it and kept with it
/// in the outbox, as it was then: the dispatcher renders it later, perhaps after the procedure has
/// moved on.
///
/// Stored as a JSON object with these keys (absent values as `null`); rows written by earlier
/// versions, which lack some keys, read them as absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcedureFacts {
    pub procedure: ProcedureId,
    /// The stage the email is about.
    pub stage: StageId,
    /// The entry into that stage (the sequence of the event that entered it). Absent only in
    /// rows queued before it was kept; those are judged by the stage alone.
    pub stage_entry: Option<i64>,
    /// The history event that caused the email.
    pub history_sequence: i64,
    /// The procedure's due date after the event.
    pub due_on: Option<NaiveDate>,
    /// The timer rule that sent the email, e.g. `before_due 7 days`; none for an act's emails.
    pub rule: Option<String>,
    pub deposited_on: Option<NaiveDate>,
    /// As recorded, or else as computed from the deposit.
    pub entry_into_force: Option<NaiveDate>,
}

impl ProcedureFacts {
    /// The facts of an email about `stage`, caused by event `history_sequence`, stated from
    /// `procedure` as the decision leaves it.
    pub(super) fn of(
        procedure: &ProcedureState,
        stage: &StageId,
        history_sequence: i64,
        rule: Option<&str>,
    ) -> ProcedureFacts {
        ProcedureFacts {
            procedure: procedure.id.clone(),
            stage: stage.clone(),
            stage_entry: Some(procedure.stage_entry),
            history_sequence,
            due_on: procedure.due_on,
            rule: rule.map(str::to_string),
            deposited_on: procedure.key_dates.deposited_on,
            entry_into_force: procedure.key_dates.entry_into_force(),
        }
    }
}

/// What the email of a signed checkpoint states: the checkpoint in its documented JSON form (as
/// `accession audit checkpoint` prints it and `audit verify --checkpoint` reads it), the public key
/// that checks its signature, and how to check it. The email attaches both as files, named here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointFacts {
    pub checkpoint: Checkpoint,
    /// The Ed25519 public key the checkpoint is signed with (64 hex digits); its first 16 hex
    /// digits of SHA-256 are the checkpoint's `key_id`.
    pub public_key: String,
    /// The checkpoint's file, as attached: `checkpoint-<size>.json`.
    pub file: String,
    /// The public key's file, as attached: `accession-audit-<key id>.pub`.
    pub public_key_file: String,
    /// The command that checks today's history against it, with those two files.
    pub verify: String,
}

impl CheckpointFacts {
    /// The facts of the email of `checkpoint`, signed with the key whose public half is `key`.
    pub fn of(checkpoint: &Checkpoint, key: &VerifyingKey) -> CheckpointFacts {
        let file = format!("checkpoint-{}.json", checkpoint.size);
        let public_key_file = format!("accession-audit-{}.pub", checkpoint.key_id);
        CheckpointFacts {
            checkpoint: checkpoint.clone(),
            public_key: hex::encode(key.as_bytes()),
            verify: format!(
                "accession audit verify --checkpoint {file} --public-key {public_key_file}"
            ),
            file,
            public_key_file,
        }
    }
}

/// What the email of a one-time sign-in link states: whose account and which link. The link's
/// secret is not here in the clear (the outbox is in the database, which keeps only the secret's
/// hash): `sealed` is the secret encrypted with a key the running service holds in memory only
/// (see `app::accounts`), so the dispatcher of that service can write the link into the email
/// and nobody reading the database can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInFacts {
    pub account: i64,
    /// The link's row (`sign_in_links.id`).
    pub link: i64,
    /// The secret, sealed (hex).
    pub sealed: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What an email states, as the outbox keeps it: the facts of its kind (see
/// `NotificationKind::is_about_a_procedure`). Stored as the facts' own JSON object, without a
/// tag: the row's kind says which facts it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum NotificationFacts {
    Procedure(ProcedureFacts),
    Checkpoint(CheckpointFacts),
    SignIn(SignInFacts),
}

impl NotificationFacts {
    /// The facts an email of `kind` stores, read from its JSON.
    pub fn read(
        kind: NotificationKind,
        json: &serde_json::Value,
    ) -> Result<NotificationFacts, serde_json::Error> {
        match kind {
            NotificationKind::Checkpoint => {
                CheckpointFacts::deserialize(json).map(NotificationFacts::Checkpoint)
            }
            NotificationKind::SignInLink => {
                SignInFacts::deserialize(json).map(NotificationFacts::SignIn)
            }
            _ => ProcedureFacts::deserialize(json).map(NotificationFacts::Procedure),
        }
    }

    /// The procedure the email is about, if any.
    pub fn procedure(&self) -> Option<&ProcedureId> {
        match self {
            NotificationFacts::Procedure(facts) => Some(&facts.procedure),
            NotificationFacts::Checkpoint(_) | NotificationFacts::SignIn(_) => None,
        }
    }
}

/// An email to queue in the outbox, to every address of `recipient`, stating `facts`: about a
/// procedure (`ProcedureFacts`) unless said otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification<F = ProcedureFacts> {
    pub kind: NotificationKind,
    pub recipient: InstitutionId,
    /// Unique per procedure, event, kind and recipient (per checkpoint and recipient).
    pub dedupe_key: String,
    pub facts: F,
}

/// The emails of checkpoint number `checkpoint` (its row's id): one to each of `auditors`, the
/// institutions holding an auditor's token when it is made, each once.
pub fn checkpoint_notifications(
    checkpoint: i64,
    facts: &CheckpointFacts,
    auditors: &[InstitutionId],
) -> Vec<Notification<CheckpointFacts>> {
    let recipients: BTreeSet<&InstitutionId> = auditors.iter().collect();
    recipients
        .into_iter()
        .map(|recipient| Notification {
            kind: NotificationKind::Checkpoint,
            recipient: recipient.clone(),
            dedupe_key: format!("checkpoint:{checkpoint}:{recipient}"),
            facts: facts.clone(),
        })
        .collect()
}

/// Why a queued email is no longer sent: the procedure is no longer where the email found it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("procedure `{procedure}` has moved on (now {status} at stage `{stage}`)")]
pub struct MovedOn {
    pub procedure: ProcedureId,
    pub status: Status,
    pub stage: StageId,
}

/// Whether an email of `kind` stating `facts` still applies to `current`, the procedure as it
/// is when the email's turn to be sent comes. A call to act on a stage is stale once the
/// procedure has left that stage entry, or is suspended or closed; news never is.
pub fn still_applies(
    kind: NotificationKind,
    facts: &ProcedureFacts,
    current: &ProcedureState,
) -> Result<(), MovedOn> {
    if !kind.is_about_the_stage() {
        return Ok(());
    }
    let same_entry = match facts.stage_entry {
        Some(entry) => entry == current.stage_entry,
        None => facts.stage == current.stage,
    };
    if same_entry && current.status == Status::Active {
        Ok(())
    } else {
        Err(MovedOn {
            procedure: current.id.clone(),
            status: current.status,
            stage: current.stage.clone(),
        })
    }
}
