//! Reference data: the State's institutions and the conventions, with the files they are
//! imported from. Pure: parsing text, not reading files.

mod calendar_file;
mod convention;
mod institution;
mod state;

pub use calendar_file::HolidayCalendar;
pub use convention::{Convention, ConventionFile};
pub use institution::{
    CoordinatorProblem, Institution, InstitutionFile, Language, check_coordinator,
};
pub use state::{State, StateFile, foreign_institutions, with_article};

use crate::text::{Lines, checked};

/// A problem in an import file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ImportError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ImportError {
    pub(crate) fn at(file: &str, source: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = crate::source::line_column(source, offset);
        Self {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn from_toml(file: &str, source: &str, err: toml::de::Error) -> Self {
        let offset = err.span().map_or(0, |s| s.start);
        Self::at(file, source, offset, err.message().trim().to_string())
    }
}

/// Every string of an import file — names, titles, numbers, addresses — is one line of text
/// without control characters (see `crate::text`): they are shown in tables, email headers and
/// CSV cells. The first one that is not is refused with where it is. A file that is not TOML is
/// left to the typed parse, which says where it breaks.
pub(crate) fn refuse_control_characters(file: &str, source: &str) -> Result<(), ImportError> {
    use toml::de::{DeTable, DeValue};
    fn table(file: &str, source: &str, t: &DeTable<'_>) -> Result<(), ImportError> {
        for (key, value) in t {
            let refuse = |at: usize, e: crate::text::ControlCharacter| {
                ImportError::at(
                    file,
                    source,
                    at,
                    format!("`{}`: {e}", key.get_ref().escape_debug()),
                )
            };
            checked(key.get_ref(), Lines::One).map_err(|e| refuse(key.span().start, e))?;
            in_value(file, source, value, &refuse)?;
        }
        Ok(())
    }
    fn in_value(
        file: &str,
        source: &str,
        v: &toml::Spanned<DeValue<'_>>,
        refuse: &dyn Fn(usize, crate::text::ControlCharacter) -> ImportError,
    ) -> Result<(), ImportError> {
        match v.get_ref() {
            DeValue::String(s) => {
                checked(s, Lines::One).map_err(|e| refuse(v.span().start, e))?;
            }
            DeValue::Array(items) => {
                for item in items.iter() {
                    in_value(file, source, item, refuse)?;
                }
            }
            DeValue::Table(t) => table(file, source, t)?,
            _ => {}
        }
        Ok(())
    }
    match DeTable::parse(source) {
        Ok(doc) => table(file, source, doc.get_ref()),
        Err(_) => Ok(()),
    }
}

/// Dates in import files may be TOML dates (`2024-04-22`) or strings (`"2024-04-22"`).
pub(crate) mod toml_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Toml(toml::value::Datetime),
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        option(d)?.ok_or_else(|| serde::de::Error::custom("a date is required here"))
    }

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        let raw = Option::<Raw>::deserialize(d)?;
        let text = match raw {
            None => return Ok(None),
            Some(Raw::Text(t)) => t,
            Some(Raw::Toml(dt)) => {
                if dt.time.is_some() || dt.offset.is_some() {
                    return Err(serde::de::Error::custom(format!(
                        "`{dt}` has a time; write a date such as 2024-04-22"
                    )));
                }
                dt.to_string()
            }
        };
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                serde::de::Error::custom(format!("`{text}` is not a date; write YYYY-MM-DD"))
            })
    }
}
