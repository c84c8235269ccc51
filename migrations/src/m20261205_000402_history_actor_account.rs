//! The person who acted, beside their institution (issue 15): `history.actor_account`, the id of
//! the account whose session or token did the act; null for Accession's own acts, for shared
//! tokens, and for every row written before.
//!
//! History is hash-chained evidence: rows the application writes from now on are of hash form
//! 3, whose hash covers the account too (`audit::chain`); the rows written before keep their
//! form (1 or 2) and their hashes, naming the institution and the token's name as they did.
//! Adding a nullable column rewrites no row, so no trigger fires. Rolling back keeps the column
//! (form-3 hashes cover it).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum History {
    Table,
    ActorAccount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("history", "actor_account").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(History::Table)
                    .add_column(big_integer_null(History::ActorAccount))
                    .take(),
            )
            .await
    }

    /// Keeps the column: see the module's notes.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
