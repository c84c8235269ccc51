//! Who acts: an institution, in a role, under a name (a person or a token).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Refusal;
use crate::ids::InstitutionId;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Acts on the stages its institution owns, and nothing else.
    Ministry,
    /// Sees every procedure and may do every act in it; held only by the coordinating
    /// institution (the Ministry of Foreign Affairs).
    Coordinator,
    /// Reads everything, changes nothing.
    Auditor,
    /// Runs the service: tokens, the outbox, reading everything to support the others; it does no
    /// act on a procedure. Held only by the coordinating institution. Also the role history shows
    /// for Accession's own acts (reminders, deadlines).
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ministry => "ministry",
            Role::Coordinator => "coordinator",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "ministry" => Some(Role::Ministry),
            "coordinator" => Some(Role::Coordinator),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether only a coordinating institution may hold this role. The coordinator's power over
    /// every procedure, and the admin's over tokens, are the coordinating institution's: a token
    /// for another institution in these roles would let it act as the Ministry of Foreign Affairs.
    pub fn needs_coordinating_institution(self) -> bool {
        matches!(self, Role::Coordinator | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a role may do beyond acting on procedures (which the workflow decides, stage by stage):
/// the one rule the API, the pages and the CLI ask (`Actor::may`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the outbox: every email queued, sent or dead.
    ReadOutbox,
    /// Send a dead email again.
    RetryEmail,
    /// See every procedure's upcoming reminders, deadlines and escalations.
    ReadTimers,
    /// Read and export every procedure's history, and its verification.
    ReadAudit,
    /// Create, list and revoke tokens, and renew another token's calendar feed key.
    ManageTokens,
    /// Create, list and disable accounts, and see and end their sessions.
    ManageAccounts,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::ReadOutbox,
        Permission::RetryEmail,
        Permission::ReadTimers,
        Permission::ReadAudit,
        Permission::ManageTokens,
        Permission::ManageAccounts,
    ];

    /// The roles that hold the permission. Auditors read everything and change nothing;
    /// coordinators manage the procedures and their mail; admins run the service.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Permission::ReadOutbox | Permission::RetryEmail => &[Role::Coordinator, Role::Admin],
            Permission::ReadTimers | Permission::ReadAudit => {
                &[Role::Coordinator, Role::Auditor, Role::Admin]
            }
            Permission::ManageTokens | Permission::ManageAccounts => &[Role::Admin],
        }
    }

    /// What the permission lets one do, as the end of "the auditor role may not …".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadOutbox => "read the outbox",
            Permission::RetryEmail => "retry an email",
            Permission::ReadTimers => "see every procedure's reminders and deadlines",
            Permission::ReadAudit => "read every procedure's history",
            Permission::ManageTokens => "manage tokens",
            Permission::ManageAccounts => "manage accounts",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The institution id history shows for Accession's own acts; no real institution may take it.
pub const SYSTEM_INSTITUTION: &str = "accession";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub institution: InstitutionId,
    pub role: Role,
    /// Who, within the institution: the person's name (an account's), or a shared token's name;
    /// recorded in history.
    pub name: String,
    /// The person's account, when a person acts (their page session or one of their tokens);
    /// none for a shared token and for Accession itself. Recorded in history (hash form 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<i64>,
}

impl Actor {
    pub fn new(institution: InstitutionId, role: Role, name: impl Into<String>) -> Self {
        Self {
            institution,
            role,
            name: name.into(),
            account: None,
        }
    }

    /// The same actor, as the person of account `account`.
    pub fn of_account(mut self, account: i64) -> Self {
        self.account = Some(account);
        self
    }

    /// Whoever runs the command line on the server: they hold the database itself, so they act
    /// as the service's administrator (never on a procedure: acts take `--as`).
    pub fn operator(name: impl Into<String>) -> Self {
        Self {
            institution: InstitutionId::parse(SYSTEM_INSTITUTION).expect("a valid id"),
            role: Role::Admin,
            name: name.into(),
            account: None,
        }
    }

    /// Accession itself, for what the scheduler records (reminders, deadlines, escalations).
    pub fn system() -> Self {
        Self {
            institution: InstitutionId::parse(SYSTEM_INSTITUTION).expect("a valid id"),
            role: Role::Admin,
            name: "scheduler".into(),
            account: None,
        }
    }

    /// Coordinators, auditors and admins read every procedure; a ministry those whose workflow
    /// gives its institution a part.
    pub fn may_read(&self, definition: &crate::workflow::WorkflowDefinition) -> bool {
        match self.role {
            Role::Coordinator | Role::Auditor | Role::Admin => true,
            Role::Ministry => definition.institutions().contains(&self.institution),
        }
    }

    /// Refused (403) unless the actor's role holds `permission`.
    pub fn may(&self, permission: Permission) -> Result<(), Refusal> {
        if permission.roles().contains(&self.role) {
            Ok(())
        } else {
            Err(Refusal::NotPermitted {
                role: self.role,
                permission,
            })
        }
    }

    /// Coordinators may do every act in every procedure (admins run the service and do none).
    pub fn manages(&self) -> bool {
        self.role == Role::Coordinator
    }

    /// Refused unless the actor's institution may hold its role, `coordinators` being the
    /// coordinating institutions as the institutions table says now (an import may have taken the
    /// flag away since a token was made).
    pub fn role_held(&self, coordinators: &[InstitutionId]) -> Result<(), Refusal> {
        if self.role.needs_coordinating_institution() && !coordinators.contains(&self.institution) {
            return Err(Refusal::RoleNotHeld {
                role: self.role,
                institution: self.institution.clone(),
                coordinators: coordinators.to_vec(),
            });
        }
        Ok(())
    }

    /// Refused unless the actor may act on procedures at all: auditors read, admins run the
    /// service, and a role must be one the institution may hold.
    pub fn may_act(&self, coordinators: &[InstitutionId]) -> Result<(), Refusal> {
        match self.role {
            Role::Auditor => Err(Refusal::ReadOnly { role: self.role }),
            Role::Admin => Err(Refusal::Operator { role: self.role }),
            Role::Coordinator | Role::Ministry => self.role_held(coordinators),
        }
    }
}
