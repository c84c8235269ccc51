//! Entity for `procedures`: one State's accession to one convention.
//! `version` is the optimistic-lock counter; `fields` is a JSON object as text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "procedures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub state_code: String,
    pub convention_id: String,
    pub workflow_id: String,
    pub workflow_version: i32,
    pub workflow_hash: String,
    pub stage: String,
    pub stage_entered_at: DateTimeUtc,
    pub stage_entry: i64,
    pub status: String,
    pub version: i64,
    /// JSON object, stored as text.
    pub fields: String,
    pub due_on: Option<Date>,
    pub requested_on: Option<Date>,
    pub invited_on: Option<Date>,
    pub invitation_expires_on: Option<Date>,
    pub deposited_on: Option<Date>,
    pub entry_into_force_computed: Option<Date>,
    pub entry_into_force_recorded: Option<Date>,
    /// The treaty record (`engine::TreatyRecord`): JSON object, stored as text.
    pub treaty: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::convention::Entity",
        from = "Column::ConventionId",
        to = "super::convention::Column::Id"
    )]
    Convention,
    #[sea_orm(
        belongs_to = "super::workflow_definition::Entity",
        from = "Column::WorkflowHash",
        to = "super::workflow_definition::Column::Hash"
    )]
    WorkflowDefinition,
    #[sea_orm(has_many = "super::history::Entity")]
    History,
    #[sea_orm(has_many = "super::approval::Entity")]
    Approval,
    #[sea_orm(has_many = "super::timer::Entity")]
    Timer,
    #[sea_orm(has_many = "super::outbox::Entity")]
    Outbox,
}

impl Related<super::convention::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Convention.def()
    }
}

impl Related<super::workflow_definition::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WorkflowDefinition.def()
    }
}

impl Related<super::history::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::History.def()
    }
}

impl Related<super::approval::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Approval.def()
    }
}

impl Related<super::timer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Timer.def()
    }
}

impl Related<super::outbox::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Outbox.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
