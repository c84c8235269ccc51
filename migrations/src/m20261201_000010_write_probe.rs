//! One row that `/readyz` rewrites to learn whether the database still takes writes: a full disk
//! refuses them while reads go on working, so a read is no probe.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WriteProbe {
    Table,
    Id,
    WrittenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WriteProbe::Table)
                    .col(integer(WriteProbe::Id).primary_key())
                    .col(timestamp_with_time_zone(WriteProbe::WrittenAt))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WriteProbe::Table).take())
            .await
    }
}
