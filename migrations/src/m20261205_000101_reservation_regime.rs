//! The validity a convention gives reservations, as data: a JSON document beside the older
//! `reservation_validity_years` (kept, and still written, for readers of that column). Null for
//! a convention whose reservations have no time limit. The reservations a State makes live in
//! the procedure's treaty record (`procedures.treaty`) and its history.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Conventions {
    Table,
    ReservationRegime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Conventions::Table)
                    .add_column(text_null(Conventions::ReservationRegime))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Conventions::Table)
                    .drop_column(Conventions::ReservationRegime)
                    .take(),
            )
            .await
    }
}
