//! Entity for `procedure_responsibles`: an institution responsible for a procedure's current
//! stage, rewritten in the transaction of every decision that enters a stage.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "procedure_responsibles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub procedure_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub institution_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
