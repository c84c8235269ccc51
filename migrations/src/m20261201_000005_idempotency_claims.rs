//! An idempotency key is claimed before its request is worked on: the row is written first in
//! state `in_progress` with a lease (so concurrent duplicates wait for it, and a crashed request's
//! claim can be taken over once the lease ends), and becomes `done` with the answer in the same
//! transaction as the act. Rows from before this migration are answers: `done`. Expired keys are
//! found (and purged) by `created_at`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    /// `in_progress` while its first request runs, `done` once the answer is kept.
    State,
    /// Until when an `in_progress` claim is held; after it the claim is abandoned.
    LeaseUntil,
    CreatedAt,
}

const CREATED_AT_INDEX: &str = "idempotency_keys_created_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE takes one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyKeys::Table)
                    .add_column(text(IdempotencyKeys::State).default("done"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyKeys::Table)
                    .add_column(timestamp_with_time_zone_null(IdempotencyKeys::LeaseUntil))
                    .take(),
            )
            .await?;
        // The purge deletes by age; without this it would read the whole table each pass.
        manager
            .create_index(
                Index::create()
                    .name(CREATED_AT_INDEX)
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(CREATED_AT_INDEX)
                    .table(IdempotencyKeys::Table)
                    .to_owned(),
            )
            .await?;
        // A claim still in progress has no answer to keep: only answers survive the way down.
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(IdempotencyKeys::Table)
                    .and_where(Expr::col(IdempotencyKeys::State).ne("done"))
                    .take(),
            )
            .await?;
        for column in [IdempotencyKeys::LeaseUntil, IdempotencyKeys::State] {
            manager
                .alter_table(
                    Table::alter()
                        .table(IdempotencyKeys::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
