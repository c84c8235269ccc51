//! Entity for `log_head`: the one row (id 1) with the log's size, root and frontier (hex hashes of
//! the perfect subtrees, largest first, concatenated). Writers lock it to append.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "log_head")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub size: i64,
    pub root: String,
    pub frontier: String,
    /// Rows written before the log existed are still to be put in it.
    pub backfill_pending: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
