//! What can go wrong in the store, in the caller's terms.

use sea_orm::DbErr;

use crate::ids::Version;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "conflict: procedure `{procedure}` changed meanwhile (expected version {expected}, now {actual}); \
         reload it and try again"
    )]
    Conflict {
        procedure: String,
        expected: Version,
        actual: Version,
    },
    #[error("procedure `{0}` already exists")]
    AlreadyExists(String),
    #[error("{what} `{id}` does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("timer `{0}` was fired or cancelled meanwhile")]
    TimerGone(String),
    #[error(
        "the claim on `Idempotency-Key: {0}` ended before the work was written (it outlived its \
         lease and another request took the key over); nothing was written: send the request again"
    )]
    KeyLost(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

impl StoreError {
    pub fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt(what.into())
    }
}

/// True when the database refused a row because of a unique constraint.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
