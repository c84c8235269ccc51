//! SeaORM entities mirroring the tables created by the `migrations` crate.
//! One module per table; JSON columns are kept as exact text for hashing.

pub mod account;
pub mod api_token;
pub mod approval;
pub mod chain_verification;
pub mod checkpoint;
pub mod convention;
pub mod history;
pub mod idempotency_key;
pub mod institution;
pub mod log_head;
pub mod log_leaf;
pub mod log_node;
pub mod mail_outage;
pub mod outbox;
pub mod procedure;
pub mod procedure_responsible;
pub mod sign_in_link;
pub mod state;
pub mod timer;
pub mod web_session;
pub mod workflow_definition;
