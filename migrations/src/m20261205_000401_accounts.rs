//! People, not shared tokens (issue 15): each official has an account (name, email,
//! institution, role) made by an admin; they sign in to the pages by a one-time link mailed to
//! them, and their API tokens belong to their account.
//!
//! - `accounts`: one person each; `email` is kept lower-cased and is unique; `disabled_at` set
//!   once an admin disables it (the row stays: history names it).
//! - `sign_in_links`: the links mailed; only the hex SHA-256 of each link's secret is kept
//!   (`link_hash`, unique), with when it stops working and when it was used (once).
//! - `api_tokens.account_id`: the person a token belongs to; null for the tokens made before
//!   (shared tokens, which keep working), and `api_tokens.for_pages`: the token a person's page
//!   sessions stand for (never shown to anyone; revoking it ends those sessions).
//!
//! Adding nullable or defaulted columns rewrites no row. Rolling back drops the two tables and
//! keeps the columns (an older version ignores them).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Institutions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Name,
    Email,
    Institution,
    Role,
    CreatedAt,
    DisabledAt,
}

#[derive(DeriveIden)]
enum SignInLinks {
    Table,
    Id,
    LinkHash,
    AccountId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    AccountId,
    ForPages,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Accounts::Id))
                    .col(text(Accounts::Name))
                    .col(text_uniq(Accounts::Email))
                    .col(text(Accounts::Institution))
                    .col(text(Accounts::Role))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .col(timestamp_with_time_zone_null(Accounts::DisabledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("accounts_institution_fkey")
                            .from(Accounts::Table, Accounts::Institution)
                            .to(Institutions::Table, Institutions::Id),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignInLinks::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SignInLinks::Id))
                    .col(text_uniq(SignInLinks::LinkHash))
                    .col(big_integer(SignInLinks::AccountId))
                    .col(timestamp_with_time_zone(SignInLinks::CreatedAt))
                    .col(timestamp_with_time_zone(SignInLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(SignInLinks::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("sign_in_links_account_id_fkey")
                            .from(SignInLinks::Table, SignInLinks::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .take(),
            )
            .await?;
        // The links of one account, newest first (how many were asked for lately).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("sign_in_links_account_id")
                    .table(SignInLinks::Table)
                    .col(SignInLinks::AccountId)
                    .col(SignInLinks::CreatedAt)
                    .take(),
            )
            .await?;
        let columns = [
            ("account_id", big_integer_null(ApiTokens::AccountId)),
            (
                "for_pages",
                boolean(ApiTokens::ForPages).default(false).take(),
            ),
        ];
        // One column per statement: SQLite adds one at a time.
        for (name, mut column) in columns {
            if manager.has_column("api_tokens", name).await? {
                continue;
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiTokens::Table)
                        .add_column(&mut column)
                        .take(),
                )
                .await?;
        }
        // The tokens of one account (disabling it revokes them all).
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("api_tokens_account_id")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::AccountId)
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("api_tokens_account_id")
                    .table(ApiTokens::Table)
                    .to_owned(),
            )
            .await?;
        for table in [SignInLinks::Table.into_iden(), Accounts::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
