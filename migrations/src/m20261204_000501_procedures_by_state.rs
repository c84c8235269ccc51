//! Procedures by State (issue 14, the chart of a State): the chart of one State reads its
//! procedures through this index, not through every procedure.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Procedures {
    Table,
    StateCode,
    Id,
}

const NAME: &str = "procedures_state_code_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Procedures::Table)
                    .col(Procedures::StateCode)
                    .col(Procedures::Id)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(Procedures::Table).to_owned())
            .await
    }
}
