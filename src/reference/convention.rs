//! Conventions: numbers, titles, dates and their treaty rules as data.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{ImportError, Language};
use crate::calendar::{EntryIntoForceRule, ValidityRule};
use crate::engine::{ConventionRules, ReservationRegime};
use crate::ids::ConventionId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Convention {
    pub id: ConventionId,
    /// `ETS No. 112`, `CETS No. 210`.
    pub number: String,
    pub title: String,
    #[serde(default)]
    pub title_fr: Option<String>,
    #[serde(default)]
    pub title_ru: Option<String>,
    /// The Kyrgyz title; Kyrgyz readers read the Russian one where it is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_ky: Option<String>,
    #[serde(default)]
    pub short_title: Option<String>,
    #[serde(default, deserialize_with = "super::toml_date::option")]
    pub opened_on: Option<NaiveDate>,
    #[serde(default)]
    pub opened_at: Option<String>,
    #[serde(default, deserialize_with = "super::toml_date::option")]
    pub general_entry_into_force: Option<NaiveDate>,
    #[serde(default)]
    pub accession_article: Option<String>,
    pub entry_into_force: EntryIntoForceRule,
    /// Years an invitation to accede stays valid.
    #[serde(default)]
    pub invitation_validity_years: Option<u32>,
    /// Years a reservation stays valid from entry into force, unless renewed. Superseded by
    /// `reservations`, read when that is absent (files written before it).
    #[serde(default)]
    pub reservation_validity_years: Option<u32>,
    /// The validity the convention gives reservations (`reservations = { validity_years = 5,
    /// renewable = true, notice_months = 18, from = "entry_into_force" }`); absent: no time
    /// limit.
    #[serde(default)]
    pub reservations: Option<ReservationRegime>,
    #[serde(default)]
    pub monitoring_body: Option<String>,
    #[serde(default)]
    pub parties_before_invitation: Option<String>,
}

impl Convention {
    /// The title to show a reader of `language`: the title in that language when the
    /// conventions file gives one (Kyrgyz readers read the Russian title where there is no Kyrgyz
    /// one), else the English title, which every convention has. The one rule for the pages,
    /// the emails and the command line.
    pub fn title_in(&self, language: Language) -> &str {
        match language {
            Language::Ru => self.title_ru.as_deref(),
            Language::Ky => self.title_ky.as_deref().or(self.title_ru.as_deref()),
            Language::Fr => self.title_fr.as_deref(),
            Language::En => None,
        }
        .unwrap_or(&self.title)
    }

    /// The reservations' regime: `reservations`, or from the older `reservation_validity_years`
    /// alone (renewable, with no notice).
    pub fn reservation_regime(&self) -> Option<ReservationRegime> {
        self.reservations.clone().or_else(|| {
            self.reservation_validity_years
                .map(|validity_years| ReservationRegime {
                    validity_years,
                    renewable: true,
                    notice_months: 0,
                    reply_months: None,
                    automatic_extension_months: None,
                    from: crate::engine::reservations::ValidFrom::EntryIntoForce,
                    applies_to: vec![crate::engine::ReservationKind::Reservation],
                })
        })
    }

    pub fn rules(&self) -> ConventionRules {
        ConventionRules {
            opened_on: self.opened_on,
            general_entry_into_force: self.general_entry_into_force,
            entry_into_force: self.entry_into_force,
            invitation_validity: self
                .invitation_validity_years
                .map(|years| ValidityRule { years }),
            reservations: self.reservation_regime(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConventionFile {
    conventions: Vec<Spanned<Convention>>,
}

impl ConventionFile {
    pub fn parse(file: &str, source: &str) -> Result<Vec<Convention>, ImportError> {
        super::refuse_control_characters(file, source)?;
        let parsed: ConventionFile =
            toml::from_str(source).map_err(|e| ImportError::from_toml(file, source, e))?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for spanned in parsed.conventions {
            let span = spanned.span();
            let c = spanned.into_inner();
            let fail = |m: String| ImportError::at(file, source, span.start, m);
            if !seen.insert(c.id.clone()) {
                return Err(fail(format!("duplicate convention `{}`", c.id)));
            }
            if c.number.trim().is_empty() || c.title.trim().is_empty() {
                return Err(fail(format!(
                    "convention `{}` needs a number and a title",
                    c.id
                )));
            }
            if c.entry_into_force.months_after == 0 || c.entry_into_force.months_after > 120 {
                return Err(fail(format!(
                    "convention `{}`: entry_into_force.months_after must be between 1 and 120",
                    c.id
                )));
            }
            if let (Some(opened), Some(general)) = (c.opened_on, c.general_entry_into_force)
                && general < opened
            {
                return Err(fail(format!(
                    "convention `{}`: general entry into force {general} is before its opening {opened}",
                    c.id
                )));
            }
            if c.reservations.is_some() && c.reservation_validity_years.is_some() {
                return Err(fail(format!(
                    "convention `{}`: give `reservations` or the older \
                     `reservation_validity_years`, not both",
                    c.id
                )));
            }
            if let Some(r) = &c.reservations {
                if r.validity_years == 0 || r.validity_years > 50 {
                    return Err(fail(format!(
                        "convention `{}`: reservations.validity_years must be between 1 and 50",
                        c.id
                    )));
                }
                let months = r.validity_years * 12;
                if r.notice_months >= months || r.reply_months.is_some_and(|m| m >= months) {
                    return Err(fail(format!(
                        "convention `{}`: reservations.notice_months and reply_months must be \
                         shorter than the validity ({months} months)",
                        c.id
                    )));
                }
                if r.applies_to.is_empty() {
                    return Err(fail(format!(
                        "convention `{}`: reservations.applies_to names nothing",
                        c.id
                    )));
                }
            }
            out.push(c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_conventions_of_the_seed_parse() {
        let list = ConventionFile::parse(
            "conventions.toml",
            include_str!("../../config/demo/conventions.toml"),
        )
        .unwrap();
        let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "cets-210", "cets-201", "ets-185", "ets-112", "cets-197", "ets-173"
            ]
        );
        for c in &list {
            assert_eq!(
                c.entry_into_force,
                EntryIntoForceRule::COE_THREE_MONTHS,
                "{}",
                c.id
            );
            assert_eq!(c.invitation_validity_years, Some(5), "{}", c.id);
        }
        let ets112 = list.iter().find(|c| c.id.as_str() == "ets-112").unwrap();
        let eif = ets112.entry_into_force.entry_into_force(
            "2024-04-22".parse().unwrap(),
            ets112.general_entry_into_force,
        );
        assert_eq!(eif, Some("2024-08-01".parse().unwrap()));
    }

    #[test]
    fn a_control_character_in_a_title_is_located() {
        let src = "[[conventions]]\nid = \"x\"\nnumber = \"N\"\ntitle = \"T\\u0007\"\nentry_into_force = { months_after = 3 }\n";
        let err = ConventionFile::parse("c.toml", src).unwrap_err();
        assert_eq!((err.line, err.column), (4, 9), "{err}");
        assert!(
            err.message.starts_with(
                "`title`: it contains the control character U+0007 (bell) at character 2"
            ),
            "{err}"
        );
        // In a table inside the entry, or in a quoted key, too.
        let src = "[[conventions]]\nid = \"x\"\nnumber = \"N\"\ntitle = \"T\"\nentry_into_force = { months_after = 3 }\n\"a\\u0000b\" = 1\n";
        let err = ConventionFile::parse("c.toml", src).unwrap_err();
        assert_eq!(err.line, 6, "{err}");
        assert!(err.message.starts_with("`a\\0b`: it contains"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_located() {
        let src = "[[conventions]]\nid = \"x\"\nnumber = \"N\"\ntitle = \"T\"\nentry_into_force = { months_after = 3 }\nratifications = 5\n";
        let err = ConventionFile::parse("c.toml", src).unwrap_err();
        assert_eq!(err.line, 6, "{err}");
        assert!(err.message.contains("ratifications"), "{err}");
    }

    #[test]
    fn a_title_falls_back_to_the_english_one() {
        let src = "[[conventions]]\nid = \"x\"\nnumber = \"N\"\ntitle = \"Convention\"\ntitle_ru = \"Конвенция\"\nentry_into_force = { months_after = 3 }\n";
        let with_ru = ConventionFile::parse("c.toml", src).unwrap().remove(0);
        assert_eq!(with_ru.title_in(Language::En), "Convention");
        assert_eq!(with_ru.title_in(Language::Ru), "Конвенция");
        // Kyrgyz readers read the Russian title when there is no Kyrgyz one; no French one is
        // given, so French readers read the English.
        assert_eq!(with_ru.title_in(Language::Ky), "Конвенция");
        let with_ky = Convention {
            title_ky: Some("Конвенция (ky)".into()),
            ..with_ru.clone()
        };
        assert_eq!(with_ky.title_in(Language::Ky), "Конвенция (ky)");
        assert_eq!(with_ky.title_in(Language::Ru), "Конвенция");
        assert_eq!(with_ru.title_in(Language::Fr), "Convention");
        let with_fr = Convention {
            title_ru: None,
            title_fr: Some("Convention (fr)".into()),
            ..with_ru
        };
        assert_eq!(with_fr.title_in(Language::Fr), "Convention (fr)");
        assert_eq!(with_fr.title_in(Language::Ru), "Convention");
        assert_eq!(with_fr.title_in(Language::Ky), "Convention");
        assert_eq!(with_fr.title_in(Language::En), "Convention");
    }
}
