//! A calendar feed key per API token: a random secret of its own (not derived from the token's
//! hash, so a database backup does not give away the feed addresses, and it can be renewed without
//! touching the token), kept as its SHA-256 and unique, with when it was made.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    /// Hex SHA-256 of the feed key; null until one is made.
    FeedKeyHash,
    FeedKeyCreatedAt,
}

const FEED_KEY_INDEX: &str = "api_tokens_feed_key_hash";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE takes one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .add_column(text_null(ApiTokens::FeedKeyHash))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .add_column(timestamp_with_time_zone_null(ApiTokens::FeedKeyCreatedAt))
                    .take(),
            )
            .await?;
        // A feed is opened by its key's hash; unique, so a hash names one token (nulls repeat).
        manager
            .create_index(
                Index::create()
                    .name(FEED_KEY_INDEX)
                    .table(ApiTokens::Table)
                    .col(ApiTokens::FeedKeyHash)
                    .unique()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(FEED_KEY_INDEX)
                    .table(ApiTokens::Table)
                    .to_owned(),
            )
            .await?;
        for column in [ApiTokens::FeedKeyCreatedAt, ApiTokens::FeedKeyHash] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiTokens::Table)
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
