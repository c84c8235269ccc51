//! Cron expressions for reminders. Accepts the standard five-field crontab form
//! (`min hour day-of-month month day-of-week`, Sunday = 0 or 7) as well as the `cron` crate's own
//! six/seven-field form (with seconds and an optional year, Sunday = 1).
//!
//! Occurrences are wall-clock times in an institution's time zone. The released `cron` 0.17 gets
//! the daylight-saving fall-back wrong when asked in a zone with DST: a daily 02:30 fires twice,
//! an hourly schedule chained from one occurrence skips the repeated hour, and asked from inside
//! the repeated hour it returns an instant *before* the one it was given. So the crate only
//! enumerates wall-clock times (in UTC, which has no DST) and [`Recurrence::next_after`] maps them
//! to instants itself, as RFC 5545 (iCalendar) does:
//! - a wall-clock time that occurs twice means its first occurrence; the second fires too only
//!   when the schedule also runs one fold earlier (hourly or more often), as in the upstream fix;
//! - a wall-clock time skipped by spring-forward is read with the offset before the gap (02:30 on
//!   a Paris spring-forward day is 03:30 CEST), so a daily reminder is late, never lost; an
//!   hourly one lands on an instant it already has and is not doubled.

use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use cron::Schedule;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expression}` is not a cron expression: {reason}")]
pub struct InvalidCron {
    pub expression: String,
    pub reason: String,
}

/// A parsed cron schedule whose occurrences are computed correctly across daylight-saving changes.
/// Crontab fires when the day of the month *or* the day of the week matches (when both are
/// restricted), where the crate requires both; such an expression is two schedules here.
#[derive(Debug, Clone)]
pub struct Recurrence {
    schedules: Vec<Schedule>,
}

/// The longest daylight-saving shift of any zone is two hours (Antarctica/Troll); a window of
/// three hours of wall-clock time on either side covers every fold and gap.
const DST_WINDOW: TimeDelta = TimeDelta::hours(3);

impl Recurrence {
    pub fn parse(expression: &str) -> Result<Recurrence, InvalidCron> {
        parse_cron(expression)
    }

    /// The first occurrence strictly after `after`, for a schedule read in `tz`.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedules
            .iter()
            .filter_map(|schedule| self.next_of(schedule, tz, after))
            .min()
    }

    fn next_of(&self, schedule: &Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local_after = after.with_timezone(&tz).naive_local();
        // Wall-clock times as if UTC: the crate is right where there is no DST.
        let start = Utc.from_utc_datetime(&(local_after - DST_WINDOW));
        let mut best: Option<(DateTime<Utc>, NaiveDateTime)> = None;
        for wall in schedule.after(&start).map(|t| t.naive_utc()) {
            if let Some((_, best_wall)) = best
                && wall > best_wall + DST_WINDOW
            {
                break;
            }
            for instant in self.instants(tz, wall).into_iter().flatten() {
                if instant > after && best.is_none_or(|(b, _)| instant < b) {
                    best = Some((instant, wall));
                }
            }
            // A schedule that never matches again (a past year) ends the iterator; one whose next
            // match is far off is still reached in one step.
            if best.is_none() && wall > local_after + TimeDelta::days(366 * 30) {
                break;
            }
        }
        best.map(|(instant, _)| instant)
    }

    /// The instants a matching wall-clock time stands for in `tz` (none, one or two).
    fn instants(&self, tz: Tz, wall: NaiveDateTime) -> [Option<DateTime<Utc>>; 2] {
        match tz.from_local_datetime(&wall) {
            LocalResult::Single(t) => [Some(t.with_timezone(&Utc)), None],
            LocalResult::Ambiguous(first, second) => {
                let fold = first.naive_utc() - second.naive_utc();
                let fold = if fold < TimeDelta::zero() {
                    -fold
                } else {
                    fold
                };
                let runs_within_fold = self.matches_wall(wall - fold);
                [
                    Some(first.with_timezone(&Utc)),
                    runs_within_fold.then(|| second.with_timezone(&Utc)),
                ]
            }
            LocalResult::None => {
                // Read with the offset in force before the gap.
                let before = (1..=DST_WINDOW.num_minutes()).find_map(|m| {
                    tz.from_local_datetime(&(wall - TimeDelta::minutes(m)))
                        .latest()
                });
                let at = before.map(|b| {
                    let offset = b.naive_local() - b.naive_utc();
                    Utc.from_utc_datetime(&(wall - offset))
                });
                [at, None]
            }
        }
    }

    fn matches_wall(&self, wall: NaiveDateTime) -> bool {
        let probe = Utc.from_utc_datetime(&(wall - TimeDelta::seconds(1)));
        self.schedules.iter().any(|schedule| {
            schedule
                .after(&probe)
                .next()
                .is_some_and(|t| t.naive_utc() == wall)
        })
    }
}

/// Parse a reminder's cron expression.
pub fn parse_cron(expression: &str) -> Result<Recurrence, InvalidCron> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let normalized: Vec<String> = match fields.len() {
        5 => {
            let (minute, hour, dom, month) = (fields[0], fields[1], fields[2], fields[3]);
            let dow = crontab_day_of_week(fields[4]).map_err(|reason| InvalidCron {
                expression: expression.to_string(),
                reason,
            })?;
            if dom != "*" && fields[4] != "*" {
                // Crontab: either day field matching is enough.
                vec![
                    format!("0 {minute} {hour} {dom} {month} *"),
                    format!("0 {minute} {hour} * {month} {dow}"),
                ]
            } else {
                vec![format!("0 {minute} {hour} {dom} {month} {dow}")]
            }
        }
        6 | 7 => vec![fields.join(" ")],
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
    let schedules = normalized
        .iter()
        .map(|text| Schedule::from_str(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| InvalidCron {
            expression: expression.to_string(),
            reason: "a field is out of range or not understood (minute 0-59, hour 0-23, day 1-31, \
                     month 1-12 or JAN-DEC, weekday 0-7 or SUN-SAT)"
                .to_string(),
        })?;
    Ok(Recurrence { schedules })
}

/// Crontab numbers days of the week 0–7 with Sunday as 0 and 7; the `cron` crate numbers them 1–7
/// with Sunday as 1. Numeric items (`1`, `1-5`, `5-7`, `*/2`, `1-7/2`) are expanded to the days
/// they mean and written as names, which both read alike; items with names pass unchanged.
fn crontab_day_of_week(field: &str) -> Result<String, String> {
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    if field == "*" {
        return Ok("*".into());
    }
    let number = |text: &str| -> Result<Option<u32>, String> {
        match text.parse::<u32>() {
            Ok(n) if n <= 7 => Ok(Some(n)),
            Ok(n) => Err(format!(
                "weekday {n} is out of range (0-7, Sunday is 0 or 7)"
            )),
            Err(_) => Ok(None),
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("`{item}` has a bad step"))?,
            ),
            None => (item, 1),
        };
        let bounds = match range.split_once('-') {
            _ if range == "*" => Some((0, 6)),
            Some((a, b)) => match (number(a)?, number(b)?) {
                (Some(a), Some(b)) if a <= b => Some((a, b)),
                (Some(_), Some(_)) => return Err(format!("`{range}` runs backwards")),
                _ => None,
            },
            None => number(range)?.map(|n| (n, if step > 1 { 6 } else { n })),
        };
        match bounds {
            Some((a, b)) => {
                for d in (a..=b).step_by(step as usize) {
                    days[(d % 7) as usize] = true;
                }
            }
            // Names (MON-FRI, SUN): the crate reads them as crontab does.
            None => out.push(item.to_string()),
        }
    }
    out.extend(
        days.iter()
            .enumerate()
            .filter(|(_, on)| **on)
            .map(|(d, _)| NAMES[d].to_string()),
    );
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Utc, Weekday};

    #[test]
    fn five_field_crontab_means_what_crontab_means() {
        // Every Monday at 09:00: crontab day 1 is Monday.
        let utc = chrono_tz::UTC;
        let schedule = parse_cron("0 9 * * 1").unwrap();
        let after = Utc.with_ymd_and_hms(2024, 3, 6, 12, 0, 0).unwrap(); // a Wednesday
        let next = schedule.next_after(utc, after).unwrap();
        assert_eq!(next.weekday(), Weekday::Mon);
        assert_eq!(next, Utc.with_ymd_and_hms(2024, 3, 11, 9, 0, 0).unwrap());
        // Sunday is 0 and 7.
        for expr in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
            let next = parse_cron(expr).unwrap().next_after(utc, after).unwrap();
            assert_eq!(next.weekday(), Weekday::Sun, "{expr}");
        }
        let weekdays = parse_cron("30 8 * * 1-5").unwrap();
        let friday = Utc.with_ymd_and_hms(2024, 3, 8, 9, 0, 0).unwrap();
        assert_eq!(
            weekdays.next_after(utc, friday).unwrap().weekday(),
            Weekday::Mon
        );
    }

    /// `n` occurrences in Europe/Paris, each asked after the previous one, as the scheduler does.
    fn paris(expr: &str, from: &str, n: usize) -> Vec<String> {
        let rec = Recurrence::parse(expr).unwrap();
        let mut at: DateTime<Utc> = from.parse().unwrap();
        (0..n)
            .map(|_| {
                at = rec.next_after(chrono_tz::Europe::Paris, at).unwrap();
                at.format("%Y-%m-%dT%H:%MZ").to_string()
            })
            .collect()
    }

    #[test]
    fn spring_forward_in_paris_moves_a_skipped_time_past_the_gap_and_loses_nothing() {
        // 2024-03-31: 02:00 CET becomes 03:00 CEST. 02:30 does not exist: it is read as 02:30 CET,
        // that is 03:30 CEST (01:30Z). The released crate skips the day altogether.
        assert_eq!(
            paris("30 2 * * *", "2024-03-30T12:00:00Z", 3),
            [
                "2024-03-31T01:30Z",
                "2024-04-01T00:30Z",
                "2024-04-02T00:30Z"
            ]
        );
        // Hourly: the missing 02:00 would be 03:00 CEST, which the schedule has anyway: once.
        assert_eq!(
            paris("0 * * * *", "2024-03-30T23:30:00Z", 3),
            [
                "2024-03-31T00:00Z",
                "2024-03-31T01:00Z",
                "2024-03-31T02:00Z"
            ]
        );
        // A 09:00 reminder is 09:00 in both offsets.
        assert_eq!(
            paris("0 9 * * *", "2024-03-30T12:00:00Z", 2),
            ["2024-03-31T07:00Z", "2024-04-01T07:00Z"]
        );
    }

    #[test]
    fn fall_back_in_paris_fires_a_daily_time_once_and_an_hourly_one_in_both_hours() {
        // 2024-10-27: 03:00 CEST becomes 02:00 CET; 02:00–02:59 happens twice.
        assert_eq!(
            paris("30 2 * * *", "2024-10-26T12:00:00Z", 3),
            [
                "2024-10-27T00:30Z",
                "2024-10-28T01:30Z",
                "2024-10-29T01:30Z"
            ]
        );
        assert_eq!(
            paris("0 * * * *", "2024-10-26T23:30:00Z", 4),
            [
                "2024-10-27T00:00Z",
                "2024-10-27T01:00Z",
                "2024-10-27T02:00Z",
                "2024-10-27T03:00Z"
            ]
        );
        assert_eq!(
            paris("*/20 * * * *", "2024-10-26T23:50:00Z", 7),
            [
                "2024-10-27T00:00Z",
                "2024-10-27T00:20Z",
                "2024-10-27T00:40Z",
                "2024-10-27T01:00Z",
                "2024-10-27T01:20Z",
                "2024-10-27T01:40Z",
                "2024-10-27T02:00Z"
            ]
        );
        assert_eq!(
            paris("0 9 * * *", "2024-10-26T12:00:00Z", 2),
            ["2024-10-27T08:00Z", "2024-10-28T08:00Z"]
        );
    }

    #[test]
    fn asked_from_inside_the_repeated_hour_the_next_time_is_never_earlier() {
        // 01:10Z is 02:10 CET, the second pass of the hour. The released crate answers 02:30 CEST,
        // which is 00:30Z, forty minutes in the past.
        assert_eq!(
            paris("30 2 * * *", "2024-10-27T01:10:00Z", 1),
            ["2024-10-28T01:30Z"]
        );
        assert_eq!(
            paris("30 * * * *", "2024-10-27T01:10:00Z", 1),
            ["2024-10-27T01:30Z"]
        );
    }

    #[test]
    fn zones_without_dst_agree_with_the_crate() {
        let rec = Recurrence::parse("15 10 * * 1-5").unwrap();
        let schedule = Schedule::from_str("0 15 10 * * MON-FRI").unwrap();
        let mut at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        for _ in 0..300 {
            let ours = rec.next_after(chrono_tz::Asia::Bishkek, at).unwrap();
            let theirs = schedule
                .after(&at.with_timezone(&chrono_tz::Asia::Bishkek))
                .next()
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(ours, theirs);
            at = ours;
        }
    }

    #[test]
    fn a_schedule_that_ended_has_no_next_time() {
        let rec = Recurrence::parse("0 0 9 1 1 * 2020").unwrap();
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(rec.next_after(chrono_tz::Europe::Paris, at), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// Over a year in Paris, occurrences only go forward and a daily time happens once a day.
            #[test]
            fn occurrences_strictly_increase_and_daily_ones_are_once_a_day(
                hour in 0u32..24, minute in 0u32..60, start in 0i64..365
            ) {
                let rec = Recurrence::parse(&format!("{minute} {hour} * * *")).unwrap();
                let tz = chrono_tz::Europe::Paris;
                let mut at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
                    + TimeDelta::days(start);
                let mut days = std::collections::BTreeSet::new();
                for _ in 0..40 {
                    let next = rec.next_after(tz, at).unwrap();
                    prop_assert!(next > at);
                    prop_assert!(days.insert(next.with_timezone(&tz).date_naive()));
                    prop_assert!(next - at <= TimeDelta::hours(25));
                    at = next;
                }
            }
        }
    }

    #[test]
    fn a_day_of_the_month_or_a_day_of_the_week_is_enough_as_in_crontab() {
        // "At 09:00 on the 1st and on every Monday": from Wednesday 2024-05-29 (Bishkek has no
        // DST), Saturday 1 June, then Monday 3 June, then Monday 10 June.
        let rec = Recurrence::parse("0 9 1 * 1").unwrap();
        let tz = chrono_tz::Asia::Bishkek;
        let mut at = Utc.with_ymd_and_hms(2024, 5, 29, 0, 0, 0).unwrap();
        let mut days = Vec::new();
        for _ in 0..3 {
            at = rec.next_after(tz, at).unwrap();
            days.push(at.with_timezone(&tz).format("%a %d").to_string());
        }
        assert_eq!(days, ["Sat 01", "Mon 03", "Mon 10"]);
    }

    #[test]
    fn weekday_ranges_and_steps_mean_what_crontab_means() {
        let cases = [
            ("5-7", "SUN,FRI,SAT"),
            ("0-7", "SUN,MON,TUE,WED,THU,FRI,SAT"),
            ("1-5", "MON,TUE,WED,THU,FRI"),
            ("*/2", "SUN,TUE,THU,SAT"),
            ("1-7/3", "SUN,MON,THU"),
            ("7", "SUN"),
            ("MON-FRI", "MON-FRI"),
        ];
        for (field, expected) in cases {
            assert_eq!(crontab_day_of_week(field).unwrap(), expected, "{field}");
        }
        assert!(crontab_day_of_week("8").is_err());
        assert!(crontab_day_of_week("5-2").is_err());
        // Friday to Sunday at 18:00: after Thursday comes Friday, then Saturday, then Sunday.
        let rec = Recurrence::parse("0 18 * * 5-7").unwrap();
        let mut at = Utc.with_ymd_and_hms(2024, 3, 7, 0, 0, 0).unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            at = rec.next_after(chrono_tz::UTC, at).unwrap();
            got.push(at.weekday());
        }
        assert_eq!(
            got,
            [Weekday::Fri, Weekday::Sat, Weekday::Sun, Weekday::Fri]
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
