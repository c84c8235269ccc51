//! Institutions of the State: who acts, where mail goes, in which language and time zone.

use std::collections::BTreeSet;
use std::fmt;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::ImportError;
use crate::ids::InstitutionId;

/// The language an institution receives its mail in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Ru,
    Ky,
    Fr,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ru => "ru",
            Language::Ky => "ky",
            Language::Fr => "fr",
        }
    }

    pub fn parse(text: &str) -> Option<Language> {
        match text {
            "en" => Some(Language::En),
            "ru" => Some(Language::Ru),
            "ky" => Some(Language::Ky),
            "fr" => Some(Language::Fr),
            _ => None,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Institution {
    pub id: InstitutionId,
    /// The English form in use.
    pub name: String,
    #[serde(default)]
    pub name_ru: Option<String>,
    #[serde(default)]
    pub name_ky: Option<String>,
    pub emails: Vec<String>,
    pub language: Language,
    #[schema(value_type = String, example = "Asia/Bishkek")]
    pub time_zone: Tz,
    /// The coordinator (the Ministry of Foreign Affairs) sees every procedure and may do every act;
    /// the coordinator and admin roles are held only by it. Exactly one institution is.
    #[serde(default)]
    pub coordinator: bool,
    /// The State the institution belongs to (a code of the States registry); procedures of that
    /// State only may name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::ids::StateCode>,
}

impl Institution {
    /// The name to show a reader of `language`: the form in that language when the file gives
    /// one (Kyrgyz readers get the Russian form when there is no Kyrgyz one), else the English.
    pub fn name_in(&self, language: Language) -> &str {
        match language {
            Language::Ky => self.name_ky.as_deref().or(self.name_ru.as_deref()),
            Language::Ru => self.name_ru.as_deref(),
            Language::En | Language::Fr => None,
        }
        .unwrap_or(&self.name)
    }
}

/// Why institutions would not have exactly one coordinator once a file is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatorProblem {
    #[error(
        "this import takes `coordinator = true` from `{0}` and gives it to no other institution: \
         exactly one institution coordinates, or nobody can start a procedure; keep it on `{0}` \
         or set it on the institution that takes over"
    )]
    Demoted(InstitutionId),
    #[error(
        "no institution is the coordinator: mark the coordinating institution (the Ministry of \
         Foreign Affairs) with `coordinator = true`; exactly one must be, or nobody can start a \
         procedure"
    )]
    None,
    #[error(
        "more than one institution would be the coordinator ({}): exactly one may be; keep \
         `coordinator = true` on one of them only", .0.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
    )]
    Several(Vec<InstitutionId>),
}

impl CoordinatorProblem {
    /// The institution of the file to point at, if the problem is one's.
    pub fn institution(&self) -> Option<&InstitutionId> {
        match self {
            CoordinatorProblem::Demoted(id) => Some(id),
            CoordinatorProblem::None => None,
            // The last named is the one too many.
            CoordinatorProblem::Several(ids) => ids.last(),
        }
    }
}

/// Refused unless `incoming`, imported over `existing` (by id), leaves exactly one coordinator.
/// The coordinator alone may start procedures and hold the coordinator and admin roles: an
/// import that leaves none locks everyone out, and two would make "the coordinator" ambiguous.
pub fn check_coordinator(
    existing: &[Institution],
    incoming: &[Institution],
) -> Result<(), CoordinatorProblem> {
    let overridden = |id: &InstitutionId| incoming.iter().any(|i| &i.id == id);
    // Those the database keeps as they are, then the file's, in its order.
    let coordinators: Vec<InstitutionId> = existing
        .iter()
        .filter(|i| i.coordinator && !overridden(&i.id))
        .chain(incoming.iter().filter(|i| i.coordinator))
        .map(|i| i.id.clone())
        .collect();
    match coordinators.len() {
        1 => Ok(()),
        0 => Err(existing
            .iter()
            .find(|i| i.coordinator)
            .map_or(CoordinatorProblem::None, |i| {
                CoordinatorProblem::Demoted(i.id.clone())
            })),
        _ => Err(CoordinatorProblem::Several(coordinators)),
    }
}

/// `[[institutions]]` tables in a TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionFile {
    institutions: Vec<Spanned<Institution>>,
}

impl InstitutionFile {
    pub fn parse(file: &str, source: &str) -> Result<Vec<Institution>, ImportError> {
        Ok(Self::parse_located(file, source)?
            .into_iter()
            .map(|(i, _)| i)
            .collect())
    }

    /// The institutions with the byte offset of each one's table, to point at one later (when
    /// the database shows the file would leave no coordinator, or two).
    pub fn parse_located(
        file: &str,
        source: &str,
    ) -> Result<Vec<(Institution, usize)>, ImportError> {
        super::refuse_control_characters(file, source)?;
        let parsed: InstitutionFile =
            toml::from_str(source).map_err(|e| ImportError::from_toml(file, source, e))?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for spanned in parsed.institutions {
            let span = spanned.span();
            let inst = spanned.into_inner();
            if !seen.insert(inst.id.clone()) {
                return Err(ImportError::at(
                    file,
                    source,
                    span.start,
                    format!("duplicate institution `{}`", inst.id),
                ));
            }
            if inst.id.as_str() == crate::engine::SYSTEM_INSTITUTION {
                return Err(ImportError::at(
                    file,
                    source,
                    span.start,
                    format!(
                        "`{}` is reserved: history shows Accession's own acts (reminders, \
                         deadlines) under it; choose another id",
                        inst.id
                    ),
                ));
            }
            if inst.name.trim().is_empty() {
                return Err(ImportError::at(
                    file,
                    source,
                    span.start,
                    format!("institution `{}` has an empty name", inst.id),
                ));
            }
            if let Some(bad) = inst.emails.iter().find(|e| !plausible_email(e)) {
                return Err(ImportError::at(
                    file,
                    source,
                    span.start,
                    format!("institution `{}`: `{bad}` is not an email address", inst.id),
                ));
            }
            if inst.state.is_none() {
                return Err(ImportError::at(
                    file,
                    source,
                    span.start,
                    format!(
                        "institution `{}` has no `state`: give the code of its State in the States \
                         registry (`state = \"KG\"`)",
                        inst.id
                    ),
                ));
            }
            out.push((inst, span.start));
        }
        if let Some(CoordinatorProblem::Several(ids)) =
            check_coordinator(&[], &out.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>()).err()
        {
            // Two in the file itself: no database needed to say so.
            let second = out
                .iter()
                .find(|(i, _)| Some(&i.id) == ids.get(1))
                .map_or(0, |(_, at)| *at);
            return Err(ImportError::at(
                file,
                source,
                second,
                CoordinatorProblem::Several(ids).to_string(),
            ));
        }
        Ok(out)
    }
}

/// A light check; the mail transport validates addresses fully when it sends.
fn plausible_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || c == ',' || c == '<' || c == '>')
                && !domain.contains('@')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_file_parses() {
        let list = InstitutionFile::parse(
            "institutions.toml",
            include_str!("../../config/demo/institutions.toml"),
        )
        .unwrap();
        assert_eq!(list.len(), 11);
        let embassy = list
            .iter()
            .find(|i| i.id.as_str() == "embassy-france")
            .unwrap();
        assert_eq!(embassy.time_zone, chrono_tz::Europe::Paris);
        assert_eq!(list.iter().filter(|i| i.coordinator).count(), 1);
    }

    #[test]
    fn a_bad_email_is_located() {
        let src = "[[institutions]]\nid = \"mfa\"\nname = \"MFA\"\nemails = [\"not an email\"]\nlanguage = \"ru\"\ntime_zone = \"Asia/Bishkek\"\n";
        let err = InstitutionFile::parse("x.toml", src).unwrap_err();
        assert_eq!((err.line, err.column), (1, 1));
        assert!(err.message.contains("not an email"));
    }

    #[test]
    fn an_unknown_time_zone_is_located() {
        let src = "[[institutions]]\nid = \"mfa\"\nname = \"MFA\"\nemails = []\nlanguage = \"ru\"\ntime_zone = \"Asia/Atlantis\"\n";
        let err = InstitutionFile::parse("x.toml", src).unwrap_err();
        assert_eq!(err.line, 6, "{err}");
    }

    fn one(id: &str, coordinator: bool) -> Institution {
        Institution {
            id: InstitutionId::parse(id).unwrap(),
            name: id.to_uppercase(),
            name_ru: None,
            name_ky: None,
            emails: Vec::new(),
            language: Language::En,
            time_zone: chrono_tz::Asia::Bishkek,
            coordinator,
            state: None,
        }
    }

    fn id(text: &str) -> InstitutionId {
        InstitutionId::parse(text).unwrap()
    }

    #[test]
    fn an_import_must_leave_exactly_one_coordinator() {
        let seeded = [one("mfa", true), one("moj", false)];
        // The seed again, a new ministry alone, or the flag moved in one file: fine.
        assert_eq!(check_coordinator(&[], &seeded), Ok(()));
        assert_eq!(check_coordinator(&seeded, &seeded), Ok(()));
        assert_eq!(check_coordinator(&seeded, &[one("mia", false)]), Ok(()));
        assert_eq!(
            check_coordinator(&seeded, &[one("mfa", false), one("moj", true)]),
            Ok(())
        );
        // The seed with the flag left out: the coordinator is demoted.
        assert_eq!(
            check_coordinator(&seeded, &[one("mfa", false), one("moj", false)]),
            Err(CoordinatorProblem::Demoted(id("mfa")))
        );
        // A first import without any.
        assert_eq!(
            check_coordinator(&[], &[one("moj", false)]),
            Err(CoordinatorProblem::None)
        );
        // A second beside the one in the database, or two in the file.
        assert_eq!(
            check_coordinator(&seeded, &[one("moj", true)]),
            Err(CoordinatorProblem::Several(vec![id("mfa"), id("moj")]))
        );
        assert_eq!(
            check_coordinator(&[], &[one("mfa", true), one("moj", true)]),
            Err(CoordinatorProblem::Several(vec![id("mfa"), id("moj")]))
        );
    }

    const TWO: &str = "[[institutions]]\nid = \"mfa\"\nstate = \"KG\"\nname = \"MFA\"\nemails = []\nlanguage = \"en\"\ntime_zone = \"Asia/Bishkek\"\ncoordinator = true\n\n[[institutions]]\nid = \"moj\"\nstate = \"KG\"\nname = \"MoJ\"\nemails = []\nlanguage = \"ru\"\ntime_zone = \"Asia/Bishkek\"\ncoordinator = true\n";

    #[test]
    fn two_coordinators_in_one_file_are_refused_at_the_second() {
        let err = InstitutionFile::parse("x.toml", TWO).unwrap_err();
        assert_eq!((err.line, err.column), (10, 1), "{err}");
        assert!(err.message.contains("`mfa`, `moj`"), "{err}");
        assert!(err.message.contains("exactly one"), "{err}");
    }

    #[test]
    fn a_control_character_in_a_name_is_refused_where_it_is_written() {
        let src = TWO
            .replace("coordinator = true\n\n", "\n")
            .replace("name = \"MoJ\"", "name = \"Mo\\u0000J\"");
        let err = InstitutionFile::parse("x.toml", &src).unwrap_err();
        assert_eq!((err.line, err.column), (12, 8), "{err}");
        assert_eq!(
            err.to_string(),
            "x.toml:12:8: `name`: it contains the control character U+0000 (NUL) at character 3; \
             this is one line of text, without tabs, line breaks or other control characters"
        );
        // A line break in a name, an escape in an address, DEL in a Russian name: all refused.
        for (from, to) in [
            ("name = \"MoJ\"", "name = \"Mo\\nJ\""),
            (
                "name = \"MoJ\"",
                "name = \"MoJ\"\nname_ru = \"Минюст\\u007f\"",
            ),
            (
                "emails = []\nlanguage = \"ru\"",
                "emails = [\"a\\u001b@moj.example.org\"]\nlanguage = \"ru\"",
            ),
        ] {
            let src = TWO
                .replace("coordinator = true\n\n", "\n")
                .replace(from, to);
            assert_ne!(src, TWO.replace("coordinator = true\n\n", "\n"));
            let err = InstitutionFile::parse("x.toml", &src).unwrap_err();
            assert!(err.message.contains("control character"), "{to}: {err}");
            assert!(err.line >= 11, "{to}: {err}");
        }
    }

    #[test]
    fn an_institution_without_a_state_is_refused_at_its_table() {
        let src = TWO.replace("id = \"moj\"\nstate = \"KG\"\n", "id = \"moj\"\n");
        let err = InstitutionFile::parse("x.toml", &src).unwrap_err();
        assert_eq!((err.line, err.column), (10, 1), "{err}");
        assert!(err.message.contains("`moj` has no `state`"), "{err}");
    }

    #[test]
    fn the_id_history_uses_for_accession_itself_is_reserved() {
        let src = "[[institutions]]\nid = \"accession\"\nname = \"A\"\nemails = []\nlanguage = \"en\"\ntime_zone = \"Asia/Bishkek\"\n";
        let err = InstitutionFile::parse("x.toml", src).unwrap_err();
        assert!(err.message.contains("reserved"), "{err}");
    }
}
