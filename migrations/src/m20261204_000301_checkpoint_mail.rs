//! Checkpoints mailed to the auditor institutions (issue 13):
//!
//! - `checkpoints.scheduled_after`: for a checkpoint the scheduler made, the id of the newest
//!   checkpoint when it found one due (0 when there was none). Unique, so of two schedulers that
//!   find the same checkpoint due at once, one makes it and mails it, and the other's insert is
//!   refused. Null for checkpoints made by hand (nulls repeat).
//! - `api_tokens_live_auditors`: the institutions holding an unrevoked auditor token, the
//!   recipients of each checkpoint, read from the few such tokens rather than from every token.
//!
//! Outbox rows already allow no procedure (`outbox.procedure_id` has been nullable from the
//! start): a checkpoint's email belongs to none.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Checkpoints {
    Table,
    ScheduledAfter,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Role,
    Institution,
    RevokedAt,
}

const SCHEDULED_INDEX: &str = "checkpoints_scheduled_after";
const AUDITORS_INDEX: &str = "api_tokens_live_auditors";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Checkpoints::Table)
                    .add_column(big_integer_null(Checkpoints::ScheduledAfter))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(SCHEDULED_INDEX)
                    .table(Checkpoints::Table)
                    .col(Checkpoints::ScheduledAfter)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(AUDITORS_INDEX)
                    .table(ApiTokens::Table)
                    .col(ApiTokens::Role)
                    .col(ApiTokens::Institution)
                    .and_where(Expr::col(ApiTokens::RevokedAt).is_null())
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(AUDITORS_INDEX)
                    .table(ApiTokens::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(SCHEDULED_INDEX)
                    .table(Checkpoints::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Checkpoints::Table)
                    .drop_column(Checkpoints::ScheduledAfter)
                    .take(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
