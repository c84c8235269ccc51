//! Which days are working days: a weekend and a list of public holidays.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// A working-day calendar: a weekend and a list of days off. The Kyrgyz Republic's holidays are
/// data (`config/calendars/kg.toml`); without a list, only the weekend is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    weekend: BTreeSet<u32>,
    holidays: BTreeSet<NaiveDate>,
    /// The days the holiday list is known for; outside them only the weekend is off.
    covers: Option<(NaiveDate, NaiveDate)>,
}

impl Default for WorkingCalendar {
    fn default() -> Self {
        Self::weekends_only()
    }
}

impl WorkingCalendar {
    pub fn weekends_only() -> Self {
        Self::new([Weekday::Sat, Weekday::Sun], [])
    }

    pub fn new(
        weekend: impl IntoIterator<Item = Weekday>,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        Self {
            weekend: weekend
                .into_iter()
                .map(|d| d.num_days_from_monday())
                .collect(),
            holidays: holidays.into_iter().collect(),
            covers: None,
        }
    }

    /// A calendar whose holidays falling on a weekend day give the next working day off, as the
    /// Kyrgyz Labour Code has it, known for the days in `covers`.
    pub fn with_weekend_holidays_moved(mut self) -> Self {
        let on_weekend: Vec<NaiveDate> = self
            .holidays
            .iter()
            .copied()
            .filter(|d| self.weekend.contains(&d.weekday().num_days_from_monday()))
            .collect();
        for holiday in on_weekend {
            let mut day = holiday;
            while let Some(next) = day.checked_add_days(Days::new(1)) {
                day = next;
                if self.is_working_day(day) {
                    self.holidays.insert(day);
                    break;
                }
            }
        }
        self
    }

    pub fn covering(mut self, from: NaiveDate, until: NaiveDate) -> Self {
        self.covers = Some((from, until));
        self
    }

    /// The days the holiday list is known for, if it says.
    pub fn covers(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.covers
    }

    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied()
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self
            .weekend
            .contains(&date.weekday().num_days_from_monday())
            && !self.holidays.contains(&date)
    }

    /// `n` working days after `from`; `n = 0` is `from` itself or the next working day.
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> Option<NaiveDate> {
        if self.weekend.len() >= 7 {
            return None;
        }
        let mut date = from;
        let mut left = n;
        if left == 0 {
            while !self.is_working_day(date) {
                date = date.checked_add_days(Days::new(1))?;
            }
            return Some(date);
        }
        while left > 0 {
            date = date.checked_add_days(Days::new(1))?;
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        Some(date)
    }

    /// `n` working days before `from`.
    pub fn sub_working_days(&self, from: NaiveDate, n: u32) -> Option<NaiveDate> {
        if self.weekend.len() >= 7 {
            return None;
        }
        let mut date = from;
        let mut left = n;
        while left > 0 {
            date = date.checked_sub_days(Days::new(1))?;
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        Some(date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        // Friday 2024-03-01 + 1 business day = Monday 2024-03-04.
        let cal = WorkingCalendar::weekends_only();
        assert_eq!(
            cal.add_working_days(d("2024-03-01"), 1),
            Some(d("2024-03-04"))
        );
        let with_holiday = WorkingCalendar::new([Weekday::Sat, Weekday::Sun], [d("2024-03-08")]);
        // Thursday 7 March + 2 business days, with 8 March off = Tuesday 12 March.
        assert_eq!(
            with_holiday.add_working_days(d("2024-03-07"), 2),
            Some(d("2024-03-12"))
        );
        assert_eq!(
            with_holiday.sub_working_days(d("2024-03-11"), 1),
            Some(d("2024-03-07"))
        );
    }

    #[test]
    fn a_holiday_on_a_weekend_gives_the_next_working_day_off() {
        // Sunday 2023-01-01 (New Year) moves to Monday 2 January. Saturday 2023-01-07 (Christmas)
        // moves to Monday 9 January.
        let cal = WorkingCalendar::new(
            [Weekday::Sat, Weekday::Sun],
            [d("2023-01-01"), d("2023-01-07")],
        )
        .with_weekend_holidays_moved();
        assert!(!cal.is_working_day(d("2023-01-02")));
        assert!(!cal.is_working_day(d("2023-01-09")));
        assert!(cal.is_working_day(d("2023-01-03")));
        // Two weekend holidays in a row (7 and 8 November 2026, Saturday and Sunday) take Monday
        // and Tuesday.
        let cal = WorkingCalendar::new(
            [Weekday::Sat, Weekday::Sun],
            [d("2026-11-07"), d("2026-11-08")],
        )
        .with_weekend_holidays_moved();
        assert!(!cal.is_working_day(d("2026-11-09")));
        assert!(!cal.is_working_day(d("2026-11-10")));
        assert!(cal.is_working_day(d("2026-11-11")));
    }

    #[test]
    fn zero_business_days_from_a_saturday_is_monday() {
        let cal = WorkingCalendar::weekends_only();
        assert_eq!(
            cal.add_working_days(d("2024-03-02"), 0),
            Some(d("2024-03-04"))
        );
    }
}
