//! The reference data: conventions and institutions. Every caller may read them (they are the
//! names every page and answer shows, and a calendar feed's key reads them too), so these take
//! no caller.

use super::{Accession, AppError};
use crate::ids::{ConventionId, InstitutionId};
use crate::reference::{Convention, Institution};

impl Accession {
    /// Every convention, by id.
    pub async fn conventions(&self) -> Result<Vec<Convention>, AppError> {
        Ok(self.store.conventions().await?)
    }

    /// Convention `id`, if there is one.
    pub async fn convention(&self, id: &ConventionId) -> Result<Option<Convention>, AppError> {
        Ok(self.store.convention(id).await?)
    }

    /// Every institution, by id.
    pub async fn institutions(&self) -> Result<Vec<Institution>, AppError> {
        Ok(self.store.institutions().await?)
    }

    /// Institution `id`, if there is one.
    pub async fn institution(&self, id: &InstitutionId) -> Result<Option<Institution>, AppError> {
        Ok(self.store.institution(id).await?)
    }
}
