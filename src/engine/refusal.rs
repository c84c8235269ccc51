//! Why a command was refused. Each variant is a sentence a user can act on; a refusal changes
//! nothing.

use crate::engine::{Permission, Role, Status};
use crate::ids::{FieldName, InstitutionId, StageId, Version};
use crate::text::ControlCharacter;

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn roles(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    match names.split_last() {
        None => "no".into(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("institution `{institution}` may not {act}; allowed: {}", list(.allowed))]
    NotAllowed {
        institution: InstitutionId,
        act: String,
        allowed: Vec<InstitutionId>,
    },
    #[error(
        "the {role} role may not {permission}; it takes the {} role",
        roles(permission.roles())
    )]
    NotPermitted { role: Role, permission: Permission },
    #[error("the {role} role reads and changes nothing")]
    ReadOnly { role: Role },
    #[error(
        "the {role} role runs the service (tokens, the outbox) and does not act on procedures; \
         act with a coordinator's or a ministry's token"
    )]
    Operator { role: Role },
    #[error(
        "the {role} role belongs to the coordinating institution ({}), and `{institution}` is not \
         one; its tokens need another role",
        list(.coordinators)
    )]
    RoleNotHeld {
        role: Role,
        institution: InstitutionId,
        coordinators: Vec<InstitutionId>,
    },
    #[error("stage `{from}` has no transition to `{to}`; allowed: {}", list(.allowed))]
    NoSuchTransition {
        from: StageId,
        to: StageId,
        allowed: Vec<StageId>,
    },
    #[error(
        "stage `{stage}` needs {needed} approval(s) and has {have}; still to approve: {}",
        list(.missing)
    )]
    ApprovalsMissing {
        stage: StageId,
        needed: usize,
        have: usize,
        missing: Vec<InstitutionId>,
    },
    #[error("stage `{stage}` asks for no approvals")]
    NoApprovalsHere { stage: StageId },
    #[error("institution `{institution}` is not among the approvers of stage `{stage}`: {}", list(.approvers))]
    NotAnApprover {
        institution: InstitutionId,
        stage: StageId,
        approvers: Vec<InstitutionId>,
    },
    #[error("institution `{institution}` has already approved stage `{stage}`")]
    AlreadyApproved {
        institution: InstitutionId,
        stage: StageId,
    },
    #[error("field(s) missing before leaving `{stage}`: {}; record them first", list(.fields))]
    FieldsMissing {
        stage: StageId,
        fields: Vec<FieldName>,
    },
    #[error("field `{field}` is not valid: {reason}")]
    FieldInvalid { field: FieldName, reason: String },
    #[error("this workflow has no field `{field}`; fields: {}", list(.known))]
    UnknownField {
        field: FieldName,
        known: Vec<FieldName>,
    },
    #[error(
        "stale version: the command expected version {expected} but the procedure is at {actual}; reload it and try again"
    )]
    StaleVersion { expected: Version, actual: Version },
    #[error("the procedure is {status} and accepts no further acts")]
    Closed { status: Status },
    #[error("the procedure is suspended; resume it first")]
    Suspended,
    #[error("the procedure is not suspended")]
    NotSuspended,
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("`{field}` is not valid: {problem}")]
    ControlCharacter {
        /// The name of the act's text: `comment`, `text` or `reason`.
        field: &'static str,
        problem: ControlCharacter,
    },
    #[error("{0}")]
    Invalid(String),
    /// The day an act is stated to have taken effect does not fit (see `engine::effective`).
    #[error("`effective_on` is not valid: {reason}")]
    EffectiveDate { reason: String },
    /// A date that cannot be true, by the rule named (see `engine::dates`).
    #[error("`{what}`: {detail} (rule `{rule}`)")]
    DateRefused {
        what: String,
        rule: &'static str,
        detail: String,
    },
    #[error("timer `{timer}` no longer applies: the procedure has moved on")]
    TimerOutdated { timer: String },
    /// What the request names is not in a state that allows it now (an email that is not dead,
    /// a token that is revoked): 409 over HTTP, exit 1 at the command line.
    #[error("{0}")]
    NotApplicable(String),
    /// A move to another workflow version that would lose or change what the procedure holds.
    #[error("{procedure} cannot move to {workflow} version {version}: {reasons}")]
    CannotMove {
        procedure: crate::ids::ProcedureId,
        workflow: crate::ids::WorkflowId,
        version: u32,
        reasons: String,
    },
}

impl Refusal {
    /// A stable name for the kind of refusal, shared by the CLI, the API and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::NotAllowed { .. }
            | Refusal::NotPermitted { .. }
            | Refusal::ReadOnly { .. }
            | Refusal::Operator { .. }
            | Refusal::RoleNotHeld { .. } => "not-allowed",
            Refusal::NoSuchTransition { .. } => "no-such-transition",
            Refusal::ApprovalsMissing { .. } => "approvals-missing",
            Refusal::NoApprovalsHere { .. }
            | Refusal::NotAnApprover { .. }
            | Refusal::AlreadyApproved { .. } => "approval-refused",
            Refusal::FieldsMissing { .. } => "field-missing",
            Refusal::FieldInvalid { .. } | Refusal::UnknownField { .. } => "field-invalid",
            Refusal::StaleVersion { .. } => "stale-version",
            Refusal::Closed { .. } | Refusal::Suspended | Refusal::NotSuspended => {
                "procedure-state"
            }
            Refusal::Empty { .. }
            | Refusal::ControlCharacter { .. }
            | Refusal::Invalid(_)
            | Refusal::EffectiveDate { .. } => "invalid-input",
            Refusal::TimerOutdated { .. } => "timer-outdated",
            Refusal::DateRefused { .. } => "date-refused",
            Refusal::NotApplicable(_) => "not-applicable",
            Refusal::CannotMove { .. } => "cannot-move",
        }
    }
}
