//! Database migrations for Accession, runnable on SQLite and PostgreSQL.
//! `Migrator` lists every migration in the order it must be applied.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_core;
mod m20261129_000002_outbox_claims;
mod m20261129_000003_api;
mod m20261129_000004_web_sessions;
mod m20261201_000005_idempotency_claims;
mod m20261201_000007_mail_outages;
mod m20261201_000008_feed_keys;
mod m20261201_000010_write_probe;
mod m20261202_000011_reads;
mod m20261202_000014_log;
mod m20261203_000101_checkpoints;
mod m20261203_000301_tallies;
mod m20261203_000401_treaty_record;
mod m20261204_000201_effective_times;
mod m20261204_000301_checkpoint_mail;
mod m20261204_000401_states;
mod m20261204_000501_procedures_by_state;
mod m20261205_000101_reservation_regime;
mod m20261205_000301_convention_title_ky;
mod m20261205_000401_accounts;
mod m20261205_000402_history_actor_account;
mod m20261206_000401_urgency;

/// Applies and rolls back the Accession schema.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_core::Migration),
            Box::new(m20261129_000002_outbox_claims::Migration),
            Box::new(m20261129_000003_api::Migration),
            Box::new(m20261129_000004_web_sessions::Migration),
            Box::new(m20261201_000005_idempotency_claims::Migration),
            Box::new(m20261201_000007_mail_outages::Migration),
            Box::new(m20261201_000008_feed_keys::Migration),
            Box::new(m20261201_000010_write_probe::Migration),
            Box::new(m20261202_000011_reads::Migration),
            Box::new(m20261202_000014_log::Migration),
            Box::new(m20261203_000101_checkpoints::Migration),
            Box::new(m20261203_000301_tallies::Migration),
            Box::new(m20261203_000401_treaty_record::Migration),
            Box::new(m20261204_000301_checkpoint_mail::Migration),
            Box::new(m20261204_000401_states::Migration),
            Box::new(m20261204_000501_procedures_by_state::Migration),
            Box::new(m20261204_000201_effective_times::Migration),
            Box::new(m20261205_000101_reservation_regime::Migration),
            Box::new(m20261205_000401_accounts::Migration),
            Box::new(m20261205_000402_history_actor_account::Migration),
            Box::new(m20261205_000301_convention_title_ky::Migration),
            Box::new(m20261206_000401_urgency::Migration),
        ]
    }
}
