//! Entity for `api_tokens`: bearer tokens of the HTTP API. Only the hex SHA-256 of a token is
//! kept (`token_hash`, unique), with its first characters (`prefix`) to tell tokens apart; and
//! only the hex SHA-256 of its calendar feed key (`feed_key_hash`, unique), once it has one.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub prefix: String,
    pub institution: String,
    pub role: String,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    #[sea_orm(unique)]
    pub feed_key_hash: Option<String>,
    pub feed_key_created_at: Option<DateTimeUtc>,
    /// The person the token belongs to (migration 000401); none for a shared token.
    pub account_id: Option<i64>,
    /// The token a person's page sessions stand for: its secret was never shown to anyone.
    pub for_pages: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::institution::Entity",
        from = "Column::Institution",
        to = "super::institution::Column::Id"
    )]
    Institution,
}

impl Related<super::institution::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Institution.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
