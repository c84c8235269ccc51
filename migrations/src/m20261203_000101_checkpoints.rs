//! Signed checkpoints of the history log (issue 13): each signs the log's size and root at a time
//! with the audit key. Kept so that they can be served and mailed; the copies that matter live
//! outside the database (an auditor's inbox, a file), since whoever can write the database can
//! also delete rows here.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Checkpoints {
    Table,
    Id,
    Size,
    Root,
    Time,
    KeyId,
    Signature,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Checkpoints::Table)
                    .col(big_integer(Checkpoints::Id).primary_key().auto_increment())
                    .col(big_integer(Checkpoints::Size))
                    .col(text(Checkpoints::Root))
                    .col(text(Checkpoints::Time))
                    .col(text(Checkpoints::KeyId))
                    .col(text(Checkpoints::Signature))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("checkpoints_time")
                    .table(Checkpoints::Table)
                    .col(Checkpoints::Time)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Checkpoints::Table).take())
            .await
    }
}
