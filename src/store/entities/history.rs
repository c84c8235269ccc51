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
    /// When the row was recorded.
    pub at: DateTimeUtc,
    /// When the act took effect, if stated (migration 000201); null: when recorded.
    pub effective_on: Option<Date>,
    pub effective_approximate: bool,
    pub retrospective: bool,
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
    /// The canonical encoding `hash` covers (`audit::FORM_RECORDED_ONLY`, `FORM_BOTH_TIMES`).
    pub hash_form: i32,
    /// The account of the person who acted (migration 000402); none for Accession's own acts,
    /// shared tokens and rows written before.
    pub actor_account: Option<i64>,
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
