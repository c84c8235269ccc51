//! When an act took effect, beside when it was recorded (issue 13): four columns on `history`.
//!
//! - `effective_on`: the day the act took effect as its actor stated it; null: when it was
//!   recorded (`at`). Every row written before this migration is null.
//! - `effective_approximate`: the day is not known; `effective_on` is the latest it can have been.
//! - `retrospective`: recorded later than it took effect.
//! - `hash_form`: which canonical encoding the row's hash covers: 1 for every row written before
//!   (the recording time only), 2 for the rows the application writes from now on (both times).
//!
//! Adding a column rewrites no row (no trigger fires; PostgreSQL and SQLite both take a constant
//! default without touching the rows), so history stays append-only and the old rows' hashes
//! stand, in their form 1. Rolling back keeps the columns: they hold what the hashes of rows
//! written since cover, and dropping them would break those rows' chains; an older version
//! ignores them and writes form-1 rows (the defaults). Applying it again adds what is missing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum History {
    Table,
    EffectiveOn,
    EffectiveApproximate,
    Retrospective,
    HashForm,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            ("effective_on", date_null(History::EffectiveOn)),
            (
                "effective_approximate",
                boolean(History::EffectiveApproximate).default(false).take(),
            ),
            (
                "retrospective",
                boolean(History::Retrospective).default(false).take(),
            ),
            ("hash_form", integer(History::HashForm).default(1).take()),
        ];
        // One column per statement: SQLite adds one at a time.
        for (name, mut column) in columns {
            if manager.has_column("history", name).await? {
                continue;
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(History::Table)
                        .add_column(&mut column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    /// Keeps the columns: see the module's notes.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
