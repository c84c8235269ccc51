//! Entity for `conventions`: the treaties a State may accede to.
//! `entry_into_force_rule` holds a JSON document stored as exact text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conventions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub number: String,
    pub title_en: String,
    pub title_fr: Option<String>,
    pub title_ru: Option<String>,
    pub title_ky: Option<String>,
    pub short_title: Option<String>,
    pub opened_on: Option<Date>,
    pub opened_at: Option<String>,
    pub general_entry_into_force: Option<Date>,
    pub accession_article: Option<String>,
    /// JSON, stored as text.
    pub entry_into_force_rule: String,
    pub invitation_validity_years: Option<i32>,
    pub reservation_validity_years: Option<i32>,
    /// JSON (`ReservationRegime`), stored as text; null: no time limit.
    pub reservation_regime: Option<String>,
    pub monitoring_body: Option<String>,
    pub parties_before_invitation: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::procedure::Entity")]
    Procedure,
}

impl Related<super::procedure::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Procedure.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
