//! The treaty record of a procedure beside its fields: invitation extensions, objections of the
//! Parties, an extended deadline and the source of a depositary's date of entry into force, as
//! one JSON document (`{}` for the procedures that have none).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Procedures {
    Table,
    Treaty,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Procedures::Table)
                    .add_column(text(Procedures::Treaty).default("{}"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Procedures::Table)
                    .drop_column(Procedures::Treaty)
                    .take(),
            )
            .await
    }
}
