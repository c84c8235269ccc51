//! What the HTTP API needs to remember: bearer tokens (only the SHA-256 of each secret, never the
//! secret) and the first response to each `Idempotency-Key`, so a retried POST gets that response
//! back and writes nothing new.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Institutions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    /// Hex SHA-256 of the token: what a presented token is looked up by.
    TokenHash,
    /// The token's first characters, so people can tell tokens apart in lists.
    Prefix,
    Institution,
    Role,
    Name,
    CreatedAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    TokenId,
    Key,
    Method,
    Path,
    RequestHash,
    Status,
    Response,
    Headers,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(big_pk_auto(ApiTokens::Id))
                    .col(text(ApiTokens::TokenHash))
                    .col(text(ApiTokens::Prefix))
                    .col(text(ApiTokens::Institution))
                    .col(text(ApiTokens::Role))
                    .col(text(ApiTokens::Name))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("api_tokens_institution_fkey")
                            .from(ApiTokens::Table, ApiTokens::Institution)
                            .to(Institutions::Table, Institutions::Id),
                    )
                    .take(),
            )
            .await?;
        // Every request looks a token up by its hash; unique, so a hash names one token.
        manager
            .create_index(
                Index::create()
                    .name("api_tokens_token_hash")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::TokenHash)
                    .unique()
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(big_pk_auto(IdempotencyKeys::Id))
                    .col(big_integer(IdempotencyKeys::TokenId))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::Method))
                    .col(text(IdempotencyKeys::Path))
                    .col(text(IdempotencyKeys::RequestHash))
                    .col(integer(IdempotencyKeys::Status))
                    .col(text(IdempotencyKeys::Response))
                    .col(text(IdempotencyKeys::Headers))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("idempotency_keys_token_id_fkey")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::TokenId)
                            .to(ApiTokens::Table, ApiTokens::Id),
                    )
                    .take(),
            )
            .await?;
        // A key belongs to the token that sent it: two clients may pick the same key.
        manager
            .create_index(
                Index::create()
                    .name("idempotency_keys_token_id_key")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::TokenId)
                    .col(IdempotencyKeys::Key)
                    .unique()
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        for table in [
            IdempotencyKeys::Table.into_iden(),
            ApiTokens::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
