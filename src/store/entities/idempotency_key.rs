//! Entity for `idempotency_keys`: the first response to a POST sent with an `Idempotency-Key`,
//! unique per (token, key). `headers` is a JSON object stored as text. While the first request
//! runs the row is a claim (`state` = `in_progress`, held until `lease_until`) whose status,
//! response and headers are placeholders (0, empty, `{}`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub token_id: i64,
    pub key: String,
    pub method: String,
    pub path: String,
    /// Hex SHA-256 of the request body, to tell a retry from a different request under one key.
    pub request_hash: String,
    pub status: i32,
    pub response: String,
    /// JSON object of the response headers worth replaying (ETag, Location), stored as text.
    pub headers: String,
    pub created_at: DateTimeUtc,
    /// `in_progress` or `done`.
    pub state: String,
    /// Until when an `in_progress` claim is held.
    pub lease_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::api_token::Entity",
        from = "Column::TokenId",
        to = "super::api_token::Column::Id"
    )]
    ApiToken,
}

impl Related<super::api_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiToken.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
