//! Entity for `history`: the append-only, hash-chained log of a procedure.
//! Database triggers refuse UPDATE and DELETE; only inserts are possible.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub procedure_id: String,
    pub sequence: i64,
    pub at: DateTimeUtc,
    pub actor_institution: String,
    pub actor_name: String,
    pub actor_role: String,
    pub command: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub comment: Option<String>,
    /// JSON, stored as the exact text that was hashed.
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
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
