//! Entity for `institutions`: national bodies that take part in procedures.
//! `emails` holds a JSON array as text; `coordinator` marks the lead body.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "institutions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name_en: String,
    pub name_ru: Option<String>,
    pub name_ky: Option<String>,
    /// JSON array of addresses, stored as text.
    pub emails: String,
    pub language: String,
    pub time_zone: String,
    pub coordinator: bool,
    /// The State it belongs to (`states.code`), when the import gave one.
    pub state_code: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
