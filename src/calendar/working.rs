//! Which days are working days: a weekend and a list of public holidays.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// A working-day calendar. The holiday list of the Kyrgyz Republic is data (see the deadlines
/// issue); without one, only the weekend is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    weekend: BTreeSet<u32>,
    holidays: BTreeSet<NaiveDate>,
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
        }
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
    fn zero_business_days_from_a_saturday_is_monday() {
        let cal = WorkingCalendar::weekends_only();
        assert_eq!(
            cal.add_working_days(d("2024-03-02"), 0),
            Some(d("2024-03-04"))
        );
    }
}
