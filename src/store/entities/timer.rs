//! Entity for `timers`: scheduled deadlines and reminders of a stage entry.
//! Workers claim due rows with `claimed_by` and `lease_until`; `dedupe_key` is unique.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "timers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub procedure_id: String,
    pub stage: String,
    pub stage_entry: i64,
    pub kind: String,
    pub rule: String,
    pub occurrence: i64,
    pub fire_at: DateTimeUtc,
    pub status: String,
    /// JSON array, stored as text.
    pub recipients: String,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub claimed_by: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub fired_at: Option<DateTimeUtc>,
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
