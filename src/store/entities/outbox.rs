//! Entity for `outbox`: notifications waiting to be delivered, with retries.
//! `dedupe_key` and `message_id` are unique; `payload` is JSON stored as text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    #[sea_orm(unique)]
    pub message_id: String,
    pub procedure_id: Option<String>,
    pub kind: String,
    pub recipient_institution: String,
    pub recipient_address: Option<String>,
    pub language: Option<String>,
    /// JSON, stored as text.
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::procedure::Entity",
        from = "Column::ProcedureId",
        to = "super::procedure::Column::Id"
    )]
    Procedure,
}

impl Related<super::procedure::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Procedure.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
