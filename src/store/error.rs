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
    /// A start refused by the one-open-procedure index: another start for the same State and
    /// convention landed first.
    #[error(
        "{state} already has an open procedure on `{convention}`; withdraw it before starting another"
    )]
    AlreadyOpen { state: String, convention: String },
    #[error(
        "institution `{institution}` belongs to State `{state}`, which the States registry does not \
         have: import the States first (`accession states import FILE`)"
    )]
    UnknownState {
        institution: crate::ids::InstitutionId,
        state: String,
    },
    #[error("{what} `{id}` does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("timer `{0}` was fired or cancelled meanwhile")]
    TimerGone(String),
    /// An import refused before writing anything: it would not leave exactly one coordinator.
    #[error("{0}")]
    Coordinators(crate::reference::CoordinatorProblem),
    #[error(
        "the claim on `Idempotency-Key: {0}` ended before the work was written (it outlived its \
         lease and another request took the key over); nothing was written: send the request again"
    )]
    KeyLost(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The database could not write for lack of disk space (SQLite's SQLITE_FULL, PostgreSQL's
    /// `disk_full`). The transaction was rolled back: nothing of it was written.
    #[error(
        "the database has no space left on its disk, so nothing was written; free space on the \
         volume that holds it (or grow it) and try again"
    )]
    NoSpace,
    #[error("database: {0}")]
    Database(DbErr),
    #[error(
        "the database is busy: another process held the write lock for longer than \
         database.busy_timeout_ms ({timeout_ms} ms); try again, or raise the setting"
    )]
    Busy { timeout_ms: u64 },
    #[error(
        "the database cannot be written here: the file or its folder is read-only (commands \
         that only read still work)"
    )]
    ReadOnly,
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_no_space(&err) {
            StoreError::NoSpace
        } else {
            StoreError::Database(err)
        }
    }
}

impl StoreError {
    pub fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt(what.into())
    }
}

/// The error the database itself reported, if `err` carries one.
fn database_error(err: &DbErr) -> Option<&(dyn sea_orm::sqlx::error::DatabaseError + 'static)> {
    let runtime = match err {
        DbErr::Conn(e) | DbErr::Exec(e) | DbErr::Query(e) => e,
        _ => return None,
    };
    match runtime {
        sea_orm::RuntimeErr::SqlxError(e) => e.as_database_error(),
        _ => None,
    }
}

/// SQLITE_FULL: "insertion failed because database is full" (the disk, or max_page_count).
const SQLITE_FULL: i64 = 13;
/// PostgreSQL's `disk_full` (class 53, insufficient resources).
const PG_DISK_FULL: &str = "53100";

/// True when the database could not write for lack of space.
pub(crate) fn is_no_space(err: &DbErr) -> bool {
    use sea_orm::sqlx::error::DatabaseError;
    use sea_orm::sqlx::postgres::PgDatabaseError;
    use sea_orm::sqlx::sqlite::SqliteError;
    let Some(db) = database_error(err) else {
        return false;
    };
    if let Some(e) = db.try_downcast_ref::<SqliteError>() {
        // Extended result codes keep the primary code in their low byte.
        return e
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| c & 0xff == SQLITE_FULL);
    }
    db.try_downcast_ref::<PgDatabaseError>()
        .is_some_and(|e| e.code() == PG_DISK_FULL)
}

/// True when the database refused a row because of a unique constraint.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// The busy timeout this process's SQLite connections were opened with, for `Busy`'s sentence.
static BUSY_TIMEOUT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Remember the busy timeout SQLite connections wait (see `StoreError::explained`).
pub(crate) fn note_busy_timeout(ms: u64) {
    BUSY_TIMEOUT_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

impl StoreError {
    /// The error in the operator's terms where SQLite's own words are opaque: "database is
    /// locked" (code 5) becomes `Busy`, "attempt to write a readonly database" (code 8)
    /// `ReadOnly`. Anything else is itself.
    pub fn explained(self) -> StoreError {
        match &self {
            StoreError::Database(e) => match sqlite_code(e).map(|code| code & 0xff) {
                Some(5) => StoreError::Busy {
                    timeout_ms: BUSY_TIMEOUT_MS.load(std::sync::atomic::Ordering::Relaxed),
                },
                Some(8) => StoreError::ReadOnly,
                _ => self,
            },
            _ => self,
        }
    }
}

/// SQLite's (extended) result code behind a database error; None for other databases, whose
/// codes are not numbers (PostgreSQL's SQLSTATE), and for errors with no code.
fn sqlite_code(err: &DbErr) -> Option<i32> {
    use sea_orm::RuntimeErr;
    let (DbErr::Conn(RuntimeErr::SqlxError(e))
    | DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = &**e else {
        return None;
    };
    db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()?;
    db.code()?.parse().ok()
}
