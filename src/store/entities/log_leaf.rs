//! Entity for `log_leaves`: the history row at each position of the one log over all history,
//! with its RFC 9162 leaf hash (hex). Database triggers refuse UPDATE and DELETE.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "log_leaves")]
pub struct Model {
    /// 0-based, contiguous, in commit order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i64,
    pub procedure_id: String,
    pub sequence: i64,
    pub leaf_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
