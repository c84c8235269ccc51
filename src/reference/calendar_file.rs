//! Working-day calendar files (`config/calendars/*.toml`): a weekend, the public holidays and the
//! days the list is known for.

use chrono::{NaiveDate, Weekday};
use serde::Deserialize;
use toml::Spanned;

use super::ImportError;
use crate::calendar::WorkingCalendar;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    id: String,
    name: String,
    weekend: Vec<Spanned<String>>,
    #[serde(default)]
    move_weekend_holidays: bool,
    covers: Spanned<Covers>,
    holidays: Vec<Spanned<Holiday>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Covers {
    #[serde(deserialize_with = "super::toml_date::required")]
    from: NaiveDate,
    #[serde(deserialize_with = "super::toml_date::required")]
    until: NaiveDate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Holiday {
    #[serde(deserialize_with = "super::toml_date::required")]
    date: NaiveDate,
    #[allow(dead_code)] // documentation for the reader of the file
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    provisional: bool,
}

/// A parsed calendar file.
#[derive(Debug, Clone)]
pub struct HolidayCalendar {
    pub id: String,
    pub name: String,
    pub calendar: WorkingCalendar,
}

impl HolidayCalendar {
    pub fn parse(file: &str, source: &str) -> Result<HolidayCalendar, ImportError> {
        let parsed: CalendarFile =
            toml::from_str(source).map_err(|e| ImportError::from_toml(file, source, e))?;
        let mut weekend = Vec::new();
        for day in &parsed.weekend {
            let Ok(weekday) = day.get_ref().parse::<Weekday>() else {
                return Err(ImportError::at(
                    file,
                    source,
                    day.span().start,
                    format!(
                        "`{}` is not a day of the week; write monday … sunday",
                        day.get_ref()
                    ),
                ));
            };
            weekend.push(weekday);
        }
        if weekend.len() >= 7 {
            return Err(ImportError::at(
                file,
                source,
                0,
                "every day of the week is a weekend day: no deadline could ever fall due",
            ));
        }
        let covers = parsed.covers.get_ref();
        if covers.from > covers.until {
            return Err(ImportError::at(
                file,
                source,
                parsed.covers.span().start,
                format!(
                    "`covers` ends ({}) before it starts ({})",
                    covers.until, covers.from
                ),
            ));
        }
        let mut days = Vec::new();
        for holiday in &parsed.holidays {
            let date = holiday.get_ref().date;
            if date < covers.from || date > covers.until {
                return Err(ImportError::at(
                    file,
                    source,
                    holiday.span().start,
                    format!(
                        "holiday {date} is outside `covers` ({} to {})",
                        covers.from, covers.until
                    ),
                ));
            }
            if days.contains(&date) {
                return Err(ImportError::at(
                    file,
                    source,
                    holiday.span().start,
                    format!("holiday {date} is listed twice"),
                ));
            }
            days.push(date);
        }
        let mut calendar = WorkingCalendar::new(weekend, days);
        if parsed.move_weekend_holidays {
            calendar = calendar.with_weekend_holidays_moved();
        }
        Ok(HolidayCalendar {
            id: parsed.id,
            name: parsed.name,
            calendar: calendar.covering(covers.from, covers.until),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn kg() -> WorkingCalendar {
        let source = include_str!("../../config/calendars/kg.toml");
        HolidayCalendar::parse("kg.toml", source).unwrap().calendar
    }

    #[test]
    fn the_kyrgyz_calendar_knows_its_holidays_for_2023_to_2027() {
        let cal = kg();
        assert_eq!(cal.covers(), Some((d("2023-01-01"), d("2027-12-31"))));
        for day in [
            "2024-03-08",
            "2024-03-21",
            "2024-05-09",
            "2025-08-29",
            "2026-11-09",
        ] {
            // 2025-08-31 is a Sunday: Monday 1 September is off instead (checked below).
            if day == "2025-08-29" {
                assert!(cal.is_working_day(d(day)), "{day} is a Friday at work");
            } else {
                assert!(!cal.is_working_day(d(day)), "{day} is a holiday");
            }
        }
        assert!(
            !cal.is_working_day(d("2025-09-01")),
            "Independence Day moved"
        );
        // Fifteen business days from Monday 4 March 2024 skip 8 March (Friday), 21 March
        // (Thursday) and three weekends: 27 March. With weekends only it would be 25 March.
        assert_eq!(
            cal.add_working_days(d("2024-03-04"), 15),
            Some(d("2024-03-27"))
        );
        assert_eq!(
            WorkingCalendar::weekends_only().add_working_days(d("2024-03-04"), 15),
            Some(d("2024-03-25"))
        );
    }

    #[test]
    fn mistakes_in_a_calendar_file_are_reported_where_they_are() {
        let source = "id = \"x\"\nname = \"X\"\nweekend = [\"saturday\", \"caturday\"]\n\
                      covers = { from = 2024-01-01, until = 2024-12-31 }\nholidays = []\n";
        let err = HolidayCalendar::parse("x.toml", source).unwrap_err();
        assert_eq!((err.line, err.column), (3, 24), "{err}");
        assert!(err.message.contains("caturday"), "{err}");

        let source = "id = \"x\"\nname = \"X\"\nweekend = [\"sunday\"]\n\
                      covers = { from = 2024-01-01, until = 2024-12-31 }\n\
                      holidays = [\n  { date = 2025-01-01, name = \"New Year\" },\n]\n";
        let err = HolidayCalendar::parse("x.toml", source).unwrap_err();
        assert_eq!(err.line, 6, "{err}");
        assert!(err.message.contains("outside `covers`"), "{err}");

        let err = HolidayCalendar::parse("x.toml", "id = \"x\"\n").unwrap_err();
        assert!(err.message.contains("missing field"), "{err}");
    }
}
