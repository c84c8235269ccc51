//! Persistence through SeaORM: the one module that speaks SQL. It applies an engine decision in
//! one transaction (procedure row with its version checked and bumped, history rows with their
//! hashes, approvals, timers and outbox rows) and reads back what the rest of the code needs.

pub mod entities;

mod accounts;
mod apply;
mod cached;
mod checkpoints;
mod connect;
mod definitions;
mod error;
mod health;
mod history;
mod idempotency;
mod lease;
mod log;
mod mail_outages;
mod outbox;
mod procedures;
mod reads;
mod reference;
mod reservations;
mod sessions;
mod timers;
mod tokens;

pub use accounts::{AccountRow, Disabled, QueuedLink, SessionListRow};
pub use apply::{KeepAnswer, message_id_for};
pub use checkpoints::{CheckpointMail, KeptCheckpoint, LogEntry, NewCheckpoint};
pub use connect::Store;
pub use error::StoreError;
pub use health::WritesRefused;
pub use history::{ChainVerdict, HistoryFilter, Verdicts, VerificationSummary, VerifyReport};
pub use idempotency::{Answer, Claim, FirstRequest, HeldKey, KeyedRequest, StoredResponse};
pub use log::LogVerdict;
pub use mail_outages::MailOutage;
pub use outbox::{OutboxCounts, OutboxRow, OutboxStatus, Settlement};
pub use procedures::{ProcedureFilter, ProcedureRow, TimerRow};
pub use reads::{
    DUE_SOON_DAYS, Keyset, NO_URGENCY, ProcedureCounts, ProcedureQuery, UrgencyKeyset, urgency_of,
};
pub use reference::ImportSummary;
pub use sessions::SessionRow;
pub use timers::{ClaimedTimer, TimerStatus};
pub use tokens::TokenRow;

/// `column = 'status'` with the value written into the SQL instead of bound. Timers and outbox
/// rows have partial indexes on `status = 'pending'`; SQLite re-prepares a statement every time a
/// value compared with a partial index's condition is bound (the plan may depend on it), which
/// cost about a tenth of every act (see BENCHMARKS.md). The statuses are our own constants.
fn status_is<C: sea_orm::ColumnTrait>(column: C, status: &'static str) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::ExprTrait;
    debug_assert!(status.chars().all(|c| c.is_ascii_lowercase()));
    column
        .into_expr()
        .eq(sea_orm::sea_query::Expr::cust(format!("'{status}'")))
}
