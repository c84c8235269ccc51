//! The one mapping from every failure to a stable kind and a CLI exit code (the API maps the
//! same kinds to problem details).

use crate::config::ConfigError;
use crate::engine::Refusal;
use crate::reference::ImportError;
use crate::store::StoreError;
use crate::workflow::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Conflict(String),
    #[error("{what} `{id}` does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Invalid(String),
    /// Invalid input in one named field of a request (`name`, `role`): the API says which.
    #[error("{detail}")]
    InvalidField { field: &'static str, detail: String },
    #[error("{} error(s) in workflow files:\n{}", .0.len(), .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Workflows(Vec<Diagnostic>),
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The database refused to write for lack of disk space; nothing was written.
    #[error("{0}")]
    NoSpace(StoreError),
    #[error("{0}")]
    Store(StoreError),
    #[error("{0}")]
    Io(String),
    /// The database is busy for now: the same request may succeed in a moment.
    #[error("{0}")]
    Busy(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let e = e.explained();
        match e {
            // Another act landed between reading and writing: the same staleness the engine
            // reports when it sees it first (412 over HTTP, exit 3).
            StoreError::Conflict {
                expected, actual, ..
            } => AppError::Refused(Refusal::StaleVersion { expected, actual }),
            StoreError::AlreadyExists(_)
            | StoreError::AlreadyOpen { .. }
            | StoreError::KeyLost(_) => AppError::Conflict(e.to_string()),
            StoreError::NotFound { what, id } => AppError::NotFound { what, id },
            e @ StoreError::NoSpace => AppError::NoSpace(e),
            e @ StoreError::Busy { .. } => AppError::Busy(e.to_string()),
            StoreError::Coordinators(problem) => AppError::Invalid(problem.to_string()),
            e @ StoreError::UnknownState { .. } => AppError::Invalid(e.to_string()),
            other => AppError::Store(other),
        }
    }
}

impl AppError {
    /// 1 refused or invalid input, 3 conflict, 4 internal or the environment (a full disk), 5
    /// busy: try again (2 is clap's usage error).
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Busy(_) => 5,
            AppError::Refused(Refusal::StaleVersion { .. }) | AppError::Conflict(_) => 3,
            AppError::Refused(_)
            | AppError::NotFound { .. }
            | AppError::Invalid(_)
            | AppError::InvalidField { .. }
            | AppError::Workflows(_)
            | AppError::Import(_)
            | AppError::Config(_) => 1,
            AppError::NoSpace(_) | AppError::Store(_) | AppError::Io(_) => 4,
        }
    }

    /// A stable name per kind of error, shared with the API's problem `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::Refused(r) => r.kind(),
            AppError::Conflict(_) => "conflict",
            AppError::NotFound { .. } => "not-found",
            AppError::Invalid(_) | AppError::InvalidField { .. } | AppError::Import(_) => {
                "invalid-input"
            }
            AppError::Workflows(_) => "invalid-workflow",
            AppError::Config(_) => "invalid-configuration",
            AppError::NoSpace(_) => "storage-full",
            AppError::Store(_) | AppError::Io(_) => "internal",
            AppError::Busy(_) => "busy",
        }
    }
}
