//! Cron expressions for reminders. Accepts the standard five-field crontab form
//! (`min hour day-of-month month day-of-week`, Sunday = 0 or 7) as well as the `cron` crate's own
//! six/seven-field form (with seconds and an optional year, Sunday = 1).

use std::str::FromStr;

use cron::Schedule;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expression}` is not a cron expression: {reason}")]
pub struct InvalidCron {
    pub expression: String,
    pub reason: String,
}

/// Parse a reminder's cron expression.
pub fn parse_cron(expression: &str) -> Result<Schedule, InvalidCron> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let normalized = match fields.len() {
        5 => {
            let dow = crontab_day_of_week(fields[4]);
            format!(
                "0 {} {} {} {} {}",
                fields[0], fields[1], fields[2], fields[3], dow
            )
        }
        6 | 7 => fields.join(" "),
        n => {
            return Err(InvalidCron {
                expression: expression.to_string(),
                reason: format!(
                    "it has {n} fields; write five (`min hour day month weekday`, as in crontab) \
                     or six or seven (with seconds first and an optional year)"
                ),
            });
        }
    };
    // The crate's error only repeats the expression; say what to check instead.
    Schedule::from_str(&normalized).map_err(|_| InvalidCron {
        expression: expression.to_string(),
        reason: "a field is out of range or not understood (minute 0-59, hour 0-23, day 1-31, \
                 month 1-12 or JAN-DEC, weekday 0-7 or SUN-SAT)"
            .to_string(),
    })
}

/// Crontab numbers days of the week 0–7 with Sunday as 0 and 7; the `cron` crate numbers them 1–7
/// with Sunday as 1. Names mean the same in both, so numbers become names; step values stay.
fn crontab_day_of_week(field: &str) -> String {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let name = |part: &str| -> String {
        match part.parse::<usize>() {
            Ok(n) if n < NAMES.len() => NAMES[n].to_string(),
            _ => part.to_string(),
        }
    };
    field
        .split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            let range = match range.split_once('-') {
                Some((a, b)) => format!("{}-{}", name(a), name(b)),
                None => name(range),
            };
            match step {
                Some(s) => format!("{range}/{s}"),
                None => range,
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Utc, Weekday};

    #[test]
    fn five_field_crontab_means_what_crontab_means() {
        // Every Monday at 09:00: crontab day 1 is Monday.
        let schedule = parse_cron("0 9 * * 1").unwrap();
        let after = Utc.with_ymd_and_hms(2024, 3, 6, 12, 0, 0).unwrap(); // a Wednesday
        let next = schedule.after(&after).next().unwrap();
        assert_eq!(next.weekday(), Weekday::Mon);
        assert_eq!(next, Utc.with_ymd_and_hms(2024, 3, 11, 9, 0, 0).unwrap());
        // Sunday is 0 and 7.
        for expr in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
            let next = parse_cron(expr).unwrap().after(&after).next().unwrap();
            assert_eq!(next.weekday(), Weekday::Sun, "{expr}");
        }
        let weekdays = parse_cron("30 8 * * 1-5").unwrap();
        let friday = Utc.with_ymd_and_hms(2024, 3, 8, 9, 0, 0).unwrap();
        assert_eq!(
            weekdays.after(&friday).next().unwrap().weekday(),
            Weekday::Mon
        );
    }

    #[test]
    fn six_field_form_is_accepted() {
        assert!(parse_cron("0 0 9 * * Mon").is_ok());
        assert!(parse_cron("0 0 9 1 * * 2025").is_ok());
    }

    #[test]
    fn bad_expressions_are_refused_with_a_reason() {
        let err = parse_cron("every monday").unwrap_err();
        assert!(err.reason.contains("2 fields"), "{}", err.reason);
        assert!(parse_cron("0 25 * * *").is_err());
        assert!(parse_cron("61 9 * * 1").is_err());
    }
}
