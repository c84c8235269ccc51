//! A period such as `30 days`, `20 business days`, `6 months`, as written in workflow files.

use std::{fmt, str::FromStr};

use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::WorkingCalendar;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    CalendarDays,
    BusinessDays,
    Weeks,
    Months,
    Years,
}

/// An amount of time counted in one unit. Months and years clamp to the end of a shorter month:
/// 31 January + 1 month = 28 (or 29) February.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub amount: u32,
    pub unit: Unit,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a period; write a whole number and a unit, for example `30 days`, \
     `20 business days`, `10 weeks`, `6 months` or `5 years`"
)]
pub struct InvalidPeriod(pub String);

impl Period {
    pub const fn new(amount: u32, unit: Unit) -> Self {
        Self { amount, unit }
    }

    /// The date `self` after `from`. Business days skip the calendar's days off; a period of
    /// zero business days starting on a day off moves to the next working day.
    pub fn after(self, from: NaiveDate, calendar: &WorkingCalendar) -> Option<NaiveDate> {
        match self.unit {
            Unit::CalendarDays => from.checked_add_days(Days::new(self.amount.into())),
            Unit::Weeks => from.checked_add_days(Days::new(u64::from(self.amount) * 7)),
            Unit::Months => from.checked_add_months(Months::new(self.amount)),
            Unit::Years => from.checked_add_months(Months::new(self.amount.checked_mul(12)?)),
            Unit::BusinessDays => calendar.add_working_days(from, self.amount),
        }
    }

    /// The date `self` before `from` (calendar units only make sense here; business days count
    /// working days backwards).
    pub fn before(self, from: NaiveDate, calendar: &WorkingCalendar) -> Option<NaiveDate> {
        match self.unit {
            Unit::CalendarDays => from.checked_sub_days(Days::new(self.amount.into())),
            Unit::Weeks => from.checked_sub_days(Days::new(u64::from(self.amount) * 7)),
            Unit::Months => from.checked_sub_months(Months::new(self.amount)),
            Unit::Years => from.checked_sub_months(Months::new(self.amount.checked_mul(12)?)),
            Unit::BusinessDays => calendar.sub_working_days(from, self.amount),
        }
    }
}

impl FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPeriod(text.to_string());
        let mut words = text.split_whitespace();
        let amount: u32 = words
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(invalid)?;
        let rest: Vec<&str> = words.collect();
        let unit = match rest.as_slice() {
            ["day" | "days"] | ["calendar", "day" | "days"] => Unit::CalendarDays,
            ["business" | "working", "day" | "days"] => Unit::BusinessDays,
            ["week" | "weeks"] => Unit::Weeks,
            ["month" | "months"] => Unit::Months,
            ["year" | "years"] => Unit::Years,
            _ => return Err(invalid()),
        };
        if amount > 100_000 {
            return Err(invalid());
        }
        Ok(Period { amount, unit })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = self.amount == 1;
        let unit = match (self.unit, one) {
            (Unit::CalendarDays, true) => "day",
            (Unit::CalendarDays, false) => "days",
            (Unit::BusinessDays, true) => "business day",
            (Unit::BusinessDays, false) => "business days",
            (Unit::Weeks, true) => "week",
            (Unit::Weeks, false) => "weeks",
            (Unit::Months, true) => "month",
            (Unit::Months, false) => "months",
            (Unit::Years, true) => "year",
            (Unit::Years, false) => "years",
        };
        write!(f, "{} {}", self.amount, unit)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_parse_in_every_unit() {
        assert_eq!("30 days".parse(), Ok(Period::new(30, Unit::CalendarDays)));
        assert_eq!(
            "1 calendar day".parse(),
            Ok(Period::new(1, Unit::CalendarDays))
        );
        assert_eq!(
            "20 business days".parse(),
            Ok(Period::new(20, Unit::BusinessDays))
        );
        assert_eq!("10 weeks".parse(), Ok(Period::new(10, Unit::Weeks)));
        assert_eq!("6 months".parse(), Ok(Period::new(6, Unit::Months)));
        assert_eq!("5 years".parse(), Ok(Period::new(5, Unit::Years)));
    }

    #[test]
    fn nonsense_periods_are_refused() {
        for text in [
            "",
            "days",
            "-3 days",
            "3 fortnights",
            "3",
            "3.5 days",
            "3 business",
        ] {
            assert!(text.parse::<Period>().is_err(), "{text}");
        }
    }

    #[test]
    fn months_clamp_to_the_end_of_a_shorter_month() {
        let cal = WorkingCalendar::weekends_only();
        let one_month = Period::new(1, Unit::Months);
        assert_eq!(
            one_month.after(d("2023-01-31"), &cal),
            Some(d("2023-02-28"))
        );
        assert_eq!(
            one_month.after(d("2024-01-31"), &cal),
            Some(d("2024-02-29"))
        );
        let one_year = Period::new(1, Unit::Years);
        assert_eq!(one_year.after(d("2024-02-29"), &cal), Some(d("2025-02-28")));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "1 day",
            "30 days",
            "2 business days",
            "1 week",
            "6 months",
            "5 years",
        ] {
            assert_eq!(text.parse::<Period>().unwrap().to_string(), text);
        }
    }
}
