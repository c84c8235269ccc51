//! Entity for `mail_outages`: a mail server found unavailable, and when to try it again.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub server: String,
    pub since: DateTimeUtc,
    pub probe_at: DateTimeUtc,
    pub failed_probes: i32,
    pub last_error: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
