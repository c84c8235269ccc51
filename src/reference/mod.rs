//! Reference data: the State's institutions and the conventions, with the files they are
//! imported from. Pure: parsing text, not reading files.

mod calendar_file;
mod convention;
mod institution;

pub use calendar_file::HolidayCalendar;
pub use convention::{Convention, ConventionFile};
pub use institution::{Institution, InstitutionFile, Language};

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
