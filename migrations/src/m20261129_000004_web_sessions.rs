//! Sessions of the web pages: a browser signs in with an API token and gets an HTTP-only cookie
//! whose SHA-256 is kept here with the token it stands for, the CSRF secret of its forms, the
//! language chosen and when it ends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebSessions {
    Table,
    Id,
    SessionHash,
    TokenId,
    Csrf,
    Language,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebSessions::Table)
                    .col(big_pk_auto(WebSessions::Id))
                    .col(text_uniq(WebSessions::SessionHash))
                    .col(big_integer(WebSessions::TokenId))
                    .col(text(WebSessions::Csrf))
                    .col(text(WebSessions::Language))
                    .col(timestamp_with_time_zone(WebSessions::CreatedAt))
                    .col(timestamp_with_time_zone(WebSessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("web_sessions_token_id_fkey")
                            .from(WebSessions::Table, WebSessions::TokenId)
                            .to(ApiTokens::Table, ApiTokens::Id),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebSessions::Table).take())
            .await
    }
}
