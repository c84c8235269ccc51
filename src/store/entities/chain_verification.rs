//! Entity for `chain_verifications`: how far a procedure's hash chain was last verified.
//! `sequence`/`hash` are the last row found intact; `broken` says where it broke, if it did.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chain_verifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub procedure_id: String,
    pub sequence: i64,
    pub hash: String,
    pub rows: i64,
    pub broken: Option<String>,
    pub verified_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
