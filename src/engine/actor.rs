//! Who acts: an institution, in a role, under a name (a person or a token).

use std::fmt;

use serde::{Deserialize, Serialize};

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
    /// Sees every procedure and may do every act in it (the Ministry of Foreign Affairs).
    Coordinator,
    /// Reads everything, changes nothing.
    Auditor,
    /// Manages tokens, institutions, conventions and workflows; also the system's own acts.
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
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The institution id history shows for Accession's own acts; no real institution may take it.
pub const SYSTEM_INSTITUTION: &str = "accession";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub institution: InstitutionId,
    pub role: Role,
    /// Who, within the institution: a person's name or a token's name; recorded in history.
    pub name: String,
}

impl Actor {
    pub fn new(institution: InstitutionId, role: Role, name: impl Into<String>) -> Self {
        Self {
            institution,
            role,
            name: name.into(),
        }
    }

    /// Accession itself, for what the scheduler records (reminders, deadlines, escalations).
    pub fn system() -> Self {
        Self {
            institution: InstitutionId::parse(SYSTEM_INSTITUTION).expect("a valid id"),
            role: Role::Admin,
            name: "scheduler".into(),
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

    /// Coordinators and admins may do every act in every procedure.
    pub fn manages(&self) -> bool {
        matches!(self.role, Role::Coordinator | Role::Admin)
    }
}
