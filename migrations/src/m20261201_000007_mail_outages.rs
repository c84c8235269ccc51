//! Mail servers found unavailable: while one is down the dispatchers do not send to it, and
//! once its wait is over one of them (the one that takes `probe_at`) tries a single email to see
//! whether it is back. Kept in the database, so several instances, and `scheduler run-once`
//! runs from a cron, share what one of them found instead of each spending emails' attempts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailOutages {
    Table,
    /// The server as the mailer describes it (host, port, security, user): another server in
    /// the settings starts with no outage.
    Server,
    Since,
    ProbeAt,
    /// Probes that found it still down: the wait before the next one doubles with each.
    FailedProbes,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailOutages::Table)
                    .col(text(MailOutages::Server).primary_key())
                    .col(timestamp_with_time_zone(MailOutages::Since))
                    .col(timestamp_with_time_zone(MailOutages::ProbeAt))
                    .col(integer(MailOutages::FailedProbes).default(0))
                    .col(text(MailOutages::LastError))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailOutages::Table).take())
            .await
    }
}
