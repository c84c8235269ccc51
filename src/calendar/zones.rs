//! Which time zone an institution works in. A stage's days (its due date, the local hour of its
//! reminders, its cron schedule) are those of its lead responsible institution.

use std::collections::BTreeMap;

use chrono_tz::Tz;

use crate::ids::InstitutionId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    default: Tz,
    by_institution: BTreeMap<InstitutionId, Tz>,
}

impl Zones {
    /// Every institution in `default` unless it has its own.
    pub fn new(default: Tz, by_institution: impl IntoIterator<Item = (InstitutionId, Tz)>) -> Self {
        Self {
            default,
            by_institution: by_institution.into_iter().collect(),
        }
    }

    pub fn default_zone(&self) -> Tz {
        self.default
    }

    pub fn of(&self, institution: &InstitutionId) -> Tz {
        self.by_institution
            .get(institution)
            .copied()
            .unwrap_or(self.default)
    }

    /// The zone of the first institution of `responsible` (the lead), or the default.
    pub fn lead(&self, responsible: &[InstitutionId]) -> Tz {
        responsible
            .first()
            .map_or(self.default, |lead| self.of(lead))
    }
}
