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
    /// The coordinator (the Ministry of Foreign Affairs) sees every procedure and may do every act.
    #[serde(default)]
    pub coordinator: bool,
}

/// `[[institutions]]` tables in a TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionFile {
    institutions: Vec<Spanned<Institution>>,
}

impl InstitutionFile {
    pub fn parse(file: &str, source: &str) -> Result<Vec<Institution>, ImportError> {
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
            out.push(inst);
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

    #[test]
    fn the_id_history_uses_for_accession_itself_is_reserved() {
        let src = "[[institutions]]\nid = \"accession\"\nname = \"A\"\nemails = []\nlanguage = \"en\"\ntime_zone = \"Asia/Bishkek\"\n";
        let err = InstitutionFile::parse("x.toml", src).unwrap_err();
        assert!(err.message.contains("reserved"), "{err}");
    }
}
