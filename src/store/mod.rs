//! Persistence through SeaORM: the one module that speaks SQL. It applies an engine decision in
//! one transaction (procedure row with its version checked and bumped, history rows with their
//! hashes, approvals, timers and outbox rows) and reads back what the rest of the code needs.

pub mod entities;

mod apply;
mod connect;
mod definitions;
mod error;
mod history;
mod outbox;
mod procedures;
mod reference;
mod sessions;
mod timers;
mod tokens;

pub use apply::message_id_for;
pub use connect::Store;
pub use error::StoreError;
pub use history::{ChainVerdict, HistoryFilter, VerifyReport};
pub use outbox::{OutboxCounts, OutboxRow, OutboxStatus};
pub use procedures::{ProcedureFilter, ProcedureRow, TimerRow};
pub use reference::ImportSummary;
pub use sessions::SessionRow;
pub use timers::ClaimedTimer;
pub use tokens::{StoredResponse, TokenRow};
