//! Institutions, conventions and States: idempotent import and lookup.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use std::sync::Arc;

use super::cached::Reference;
use super::entities::{convention, institution, state};
use super::{Store, StoreError};
use crate::calendar::EntryIntoForceRule;
use crate::ids::{ConventionId, InstitutionId, StateCode};
use crate::reference::{Convention, Institution, Language, State, check_coordinator};

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl Store {
    /// Insert new institutions and update changed ones, in one transaction; refused, writing
    /// nothing, unless exactly one institution is the coordinator afterwards.
    pub async fn import_institutions(
        &self,
        list: &[Institution],
        now: DateTime<Utc>,
    ) -> Result<ImportSummary, StoreError> {
        let txn = self.begin_write().await?;
        if self.backend() == DbBackend::Postgres {
            // Imports one after the other, so two cannot each pass the coordinator check against
            // what the other is changing. Readers are not held up.
            txn.execute_unprepared("LOCK TABLE institutions IN SHARE ROW EXCLUSIVE MODE")
                .await?;
        }
        let rows = institution::Entity::find().all(&txn).await?;
        let before = rows
            .iter()
            .map(institution_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        check_coordinator(&before, list).map_err(StoreError::Coordinators)?;
        // An institution belongs to a State of the registry (only the file's States are read).
        let named: std::collections::BTreeSet<String> = list
            .iter()
            .filter_map(|i| i.state.as_ref().map(|s| s.to_string()))
            .collect();
        let known: Vec<String> = state::Entity::find()
            .filter(state::Column::Code.is_in(named))
            .all(&txn)
            .await?
            .into_iter()
            .map(|s| s.code)
            .collect();
        if let Some(inst) = list.iter().find(|i| {
            i.state
                .as_ref()
                .is_some_and(|s| !known.contains(&s.to_string()))
        }) {
            return Err(StoreError::UnknownState {
                institution: inst.id.clone(),
                state: inst
                    .state
                    .clone()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            });
        }
        let mut summary = ImportSummary::default();
        for inst in list {
            let existing = rows.iter().find(|r| r.id == inst.id.as_str()).cloned();
            let emails = serde_json::to_string(&inst.emails).unwrap_or_else(|_| "[]".into());
            let mut row = institution::ActiveModel {
                id: Set(inst.id.to_string()),
                name_en: Set(inst.name.clone()),
                name_ru: Set(inst.name_ru.clone()),
                name_ky: Set(inst.name_ky.clone()),
                emails: Set(emails),
                language: Set(inst.language.as_str().to_string()),
                time_zone: Set(inst.time_zone.name().to_string()),
                coordinator: Set(inst.coordinator),
                state_code: Set(inst.state.as_ref().map(|s| s.to_string())),
                created_at: Set(now),
                updated_at: Set(now),
            };
            match existing {
                None => {
                    institution::Entity::insert(row).exec(&txn).await?;
                    summary.inserted += 1;
                }
                Some(old) => {
                    if institution_from_row(&old)? == *inst {
                        summary.unchanged += 1;
                    } else {
                        row.created_at = Set(old.created_at);
                        institution::Entity::update(row).exec(&txn).await?;
                        summary.updated += 1;
                    }
                }
            }
        }
        txn.commit().await?;
        self.reference.invalidate();
        Ok(summary)
    }

    /// Every institution, by id (from memory when read recently; see `cached`).
    pub async fn institutions(&self) -> Result<Vec<Institution>, StoreError> {
        Ok(self.reference().await?.institutions.clone())
    }

    pub async fn institution(&self, id: &InstitutionId) -> Result<Option<Institution>, StoreError> {
        Ok(self
            .reference()
            .await?
            .institutions
            .iter()
            .find(|i| &i.id == id)
            .cloned())
    }

    /// Insert new conventions and update changed ones, in one transaction.
    pub async fn import_conventions(
        &self,
        list: &[Convention],
        now: DateTime<Utc>,
    ) -> Result<ImportSummary, StoreError> {
        let txn = self.begin_write().await?;
        let mut summary = ImportSummary::default();
        for c in list {
            let existing = convention::Entity::find_by_id(c.id.to_string())
                .one(&txn)
                .await?;
            let mut row = convention::ActiveModel {
                id: Set(c.id.to_string()),
                number: Set(c.number.clone()),
                title_en: Set(c.title.clone()),
                title_fr: Set(c.title_fr.clone()),
                title_ru: Set(c.title_ru.clone()),
                title_ky: Set(c.title_ky.clone()),
                short_title: Set(c.short_title.clone()),
                opened_on: Set(c.opened_on),
                opened_at: Set(c.opened_at.clone()),
                general_entry_into_force: Set(c.general_entry_into_force),
                accession_article: Set(c.accession_article.clone()),
                entry_into_force_rule: Set(
                    serde_json::to_string(&c.entry_into_force).unwrap_or_default()
                ),
                invitation_validity_years: Set(c.invitation_validity_years.map(|y| y as i32)),
                reservation_validity_years: Set(c
                    .reservation_regime()
                    .map(|r| r.validity_years as i32)),
                reservation_regime: Set(c
                    .reservations
                    .as_ref()
                    .and_then(|r| serde_json::to_string(r).ok())),
                monitoring_body: Set(c.monitoring_body.clone()),
                parties_before_invitation: Set(c.parties_before_invitation.clone()),
                created_at: Set(now),
                updated_at: Set(now),
            };
            match existing {
                None => {
                    convention::Entity::insert(row).exec(&txn).await?;
                    summary.inserted += 1;
                }
                Some(old) => {
                    if convention_from_row(&old)? == *c {
                        summary.unchanged += 1;
                    } else {
                        row.created_at = Set(old.created_at);
                        convention::Entity::update(row).exec(&txn).await?;
                        summary.updated += 1;
                    }
                }
            }
        }
        txn.commit().await?;
        self.reference.invalidate();
        Ok(summary)
    }

    /// Insert new States and update changed ones, in one transaction.
    pub async fn import_states(
        &self,
        list: &[State],
        now: DateTime<Utc>,
    ) -> Result<ImportSummary, StoreError> {
        let txn = self.begin_write().await?;
        let mut summary = ImportSummary::default();
        for st in list {
            let existing = state::Entity::find_by_id(st.code.to_string())
                .one(&txn)
                .await?;
            let mut row = state::ActiveModel {
                code: Set(st.code.to_string()),
                name_en: Set(st.name.clone()),
                name_ru: Set(st.name_ru.clone()),
                name_ky: Set(st.name_ky.clone()),
                name_fr: Set(st.name_fr.clone()),
                coe_member: Set(st.coe_member),
                created_at: Set(now),
                updated_at: Set(now),
            };
            match existing {
                None => {
                    state::Entity::insert(row).exec(&txn).await?;
                    summary.inserted += 1;
                }
                Some(old) => {
                    if state_from_row(&old)? == *st {
                        summary.unchanged += 1;
                    } else {
                        row.created_at = Set(old.created_at);
                        state::Entity::update(row).exec(&txn).await?;
                        summary.updated += 1;
                    }
                }
            }
        }
        txn.commit().await?;
        self.reference.invalidate();
        Ok(summary)
    }

    /// Every State of the registry, by code (from memory when read recently).
    pub async fn states(&self) -> Result<Vec<State>, StoreError> {
        Ok(self.reference().await?.states.clone())
    }

    pub async fn state(&self, code: &StateCode) -> Result<Option<State>, StoreError> {
        Ok(self
            .reference()
            .await?
            .states
            .iter()
            .find(|s| &s.code == code)
            .cloned())
    }

    /// Every convention, by id (from memory when read recently; see `cached`).
    pub async fn conventions(&self) -> Result<Vec<Convention>, StoreError> {
        Ok(self.reference().await?.conventions.clone())
    }

    pub async fn convention(&self, id: &ConventionId) -> Result<Option<Convention>, StoreError> {
        Ok(self
            .reference()
            .await?
            .conventions
            .iter()
            .find(|c| &c.id == id)
            .cloned())
    }

    /// Institutions and conventions, read together when the cached copy is missing or old.
    async fn reference(&self) -> Result<Arc<Reference>, StoreError> {
        let generation = match self.reference.get() {
            Ok(fresh) => return Ok(fresh),
            Err(generation) => generation,
        };
        let institutions = institution::Entity::find()
            .order_by_asc(institution::Column::Id)
            .all(&self.db)
            .await?
            .iter()
            .map(institution_from_row)
            .collect::<Result<_, _>>()?;
        let conventions = convention::Entity::find()
            .order_by_asc(convention::Column::Id)
            .all(&self.db)
            .await?
            .iter()
            .map(convention_from_row)
            .collect::<Result<_, _>>()?;
        // The registry is small (the States of the world at most).
        let states = state::Entity::find()
            .order_by_asc(state::Column::Code)
            .all(&self.db)
            .await?
            .iter()
            .map(state_from_row)
            .collect::<Result<_, _>>()?;
        let reference = Arc::new(Reference {
            institutions,
            conventions,
            states,
        });
        self.reference.put(generation, Arc::clone(&reference));
        Ok(reference)
    }
}

fn institution_from_row(row: &institution::Model) -> Result<Institution, StoreError> {
    let bad = |what: &str| StoreError::corrupt(format!("institution `{}`: {what}", row.id));
    Ok(Institution {
        id: InstitutionId::parse(row.id.clone()).map_err(|e| bad(&e.to_string()))?,
        name: row.name_en.clone(),
        name_ru: row.name_ru.clone(),
        name_ky: row.name_ky.clone(),
        emails: serde_json::from_str(&row.emails).map_err(|e| bad(&e.to_string()))?,
        language: Language::parse(&row.language).ok_or_else(|| bad("unknown language"))?,
        time_zone: row
            .time_zone
            .parse()
            .map_err(|_| bad("unknown time zone"))?,
        coordinator: row.coordinator,
        state: row
            .state_code
            .clone()
            .map(StateCode::parse)
            .transpose()
            .map_err(|e| bad(&e.to_string()))?,
    })
}

fn state_from_row(row: &state::Model) -> Result<State, StoreError> {
    let bad = |what: &str| StoreError::corrupt(format!("State `{}`: {what}", row.code));
    Ok(State {
        code: StateCode::parse(row.code.clone()).map_err(|e| bad(&e.to_string()))?,
        name: row.name_en.clone(),
        name_ru: row.name_ru.clone(),
        name_ky: row.name_ky.clone(),
        name_fr: row.name_fr.clone(),
        coe_member: row.coe_member,
    })
}

fn convention_from_row(row: &convention::Model) -> Result<Convention, StoreError> {
    let bad = |what: &str| StoreError::corrupt(format!("convention `{}`: {what}", row.id));
    let rule: EntryIntoForceRule =
        serde_json::from_str(&row.entry_into_force_rule).map_err(|e| bad(&e.to_string()))?;
    Ok(Convention {
        id: ConventionId::parse(row.id.clone()).map_err(|e| bad(&e.to_string()))?,
        number: row.number.clone(),
        title: row.title_en.clone(),
        title_fr: row.title_fr.clone(),
        title_ru: row.title_ru.clone(),
        title_ky: row.title_ky.clone(),
        short_title: row.short_title.clone(),
        opened_on: row.opened_on,
        opened_at: row.opened_at.clone(),
        general_entry_into_force: row.general_entry_into_force,
        accession_article: row.accession_article.clone(),
        entry_into_force: rule,
        invitation_validity_years: row.invitation_validity_years.map(|y| y as u32),
        reservations: match &row.reservation_regime {
            Some(json) => Some(serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?),
            None => None,
        },
        reservation_validity_years: match &row.reservation_regime {
            Some(_) => None,
            None => row.reservation_validity_years.map(|y| y as u32),
        },
        monitoring_body: row.monitoring_body.clone(),
        parties_before_invitation: row.parties_before_invitation.clone(),
    })
}
