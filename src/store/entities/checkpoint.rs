//! Entity for `checkpoints`: the signed tree heads made of the history log. `time` is the
//! RFC 3339 text that was signed, kept exactly. `scheduled_after` (unique) is, for one the
//! scheduler made, the id of the newest checkpoint when it found this one due (0: none).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checkpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub size: i64,
    pub root: String,
    pub time: String,
    pub key_id: String,
    pub signature: String,
    #[sea_orm(unique)]
    pub scheduled_after: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
