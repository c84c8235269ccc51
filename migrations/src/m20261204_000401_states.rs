//! The States registry; institutions belong to a State; at most one open procedure per State and
//! convention (a withdrawn or completed one — denounced — may be followed by a new one).
//!
//! Institutions already in the database are the seed's, Kyrgyzstan's: the migration adds
//! Kyrgyzstan to the registry (as `config/demo/states.toml` names it) and gives them its code.
//!
//! The unique index is partial, over open procedures only, so the database itself refuses a
//! second open procedure even when two starts race. A database that already holds two open
//! procedures for one State and convention refuses this migration: close one first.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum States {
    Table,
    Code,
    NameEn,
    NameRu,
    NameKy,
    NameFr,
    CoeMember,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Institutions {
    Table,
    StateCode,
}

#[derive(DeriveIden)]
enum Procedures {
    Table,
    StateCode,
    ConventionId,
    Status,
}

/// Existing institutions belong to Kyrgyzstan, which joins the registry when there are any.
async fn backfill_kyrgyzstan(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::ConnectionTrait;
    let db = manager.get_connection();
    let any = Query::select()
        .expr(Expr::val(1))
        .from(Institutions::Table)
        .limit(1)
        .take();
    if db.query_one(&any).await?.is_none() {
        return Ok(());
    }
    let now =
        sea_orm_migration::sea_orm::prelude::ChronoDateTimeUtc::from(std::time::SystemTime::now());
    let insert = Query::insert()
        .into_table(States::Table)
        .columns([
            States::Code,
            States::NameEn,
            States::NameRu,
            States::NameKy,
            States::NameFr,
            States::CoeMember,
            States::CreatedAt,
            States::UpdatedAt,
        ])
        .values_panic([
            "KG".into(),
            "Kyrgyz Republic".into(),
            "Кыргызская Республика".into(),
            "Кыргыз Республикасы".into(),
            "République kirghize".into(),
            false.into(),
            now.into(),
            now.into(),
        ])
        .take();
    db.execute(&insert).await?;
    let update = Query::update()
        .table(Institutions::Table)
        .value(Institutions::StateCode, "KG")
        .take();
    db.execute(&update).await?;
    Ok(())
}

const ONE_OPEN: &str = "procedures_one_open_per_state_and_convention";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(States::Table)
                    .col(text(States::Code).primary_key())
                    .col(text(States::NameEn))
                    .col(text(States::NameRu))
                    .col(text(States::NameKy))
                    .col(text_null(States::NameFr))
                    .col(boolean(States::CoeMember))
                    .col(timestamp_with_time_zone(States::CreatedAt))
                    .col(timestamp_with_time_zone(States::UpdatedAt))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Institutions::Table)
                    .add_column(text_null(Institutions::StateCode))
                    .take(),
            )
            .await?;
        backfill_kyrgyzstan(manager).await?;
        manager
            .create_index(
                Index::create()
                    .name(ONE_OPEN)
                    .table(Procedures::Table)
                    .col(Procedures::StateCode)
                    .col(Procedures::ConventionId)
                    .unique()
                    .and_where(Expr::col(Procedures::Status).is_in(["active", "suspended"]))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(ONE_OPEN)
                    .table(Procedures::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Institutions::Table)
                    .drop_column(Institutions::StateCode)
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(States::Table).take())
            .await
    }
}
