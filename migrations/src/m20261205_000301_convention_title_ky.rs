//! The Kyrgyz title of a convention (issue 15): `conventions.title_ky`, nullable like
//! `title_ru` and `title_fr`. Kyrgyz readers read it where it is given, the Russian title where
//! it is not, the English one last.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Conventions {
    Table,
    TitleKy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Conventions::Table)
                    .add_column(text_null(Conventions::TitleKy))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Conventions::Table)
                    .drop_column(Conventions::TitleKy)
                    .take(),
            )
            .await
    }
}
