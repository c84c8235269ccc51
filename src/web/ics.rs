//! The iCalendar (RFC 5545) feed of an institution's deadlines and reminders, for Outlook and Thunderbird.
//! Pure: the caller passes the events and the clock (`generated`). Hand-written, not the `icalendar` crate,
//! whose folding can end a physical line with a space that trimming parsers (the `ical` crate too) drop.

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};

/// Identifies this program in every feed (RFC 5545 §3.7.3).
const PRODID: &str = "-//Accession//Accession//EN";
/// RFC 5545 §3.1: a physical line holds at most 75 octets, not counting its CRLF.
const LINE_OCTETS: usize = 75;
/// A reminder is a point in time; clients need a span to draw, and half an hour shows without crowding.
const TIMED_EVENT_LENGTH: TimeDelta = TimeDelta::minutes(30);

/// One VEVENT of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Stable key of the event (a timer's dedupe key, `procedure:due`, …); written percent-encoded
    /// so that it never needs escaping and distinct keys stay distinct.
    pub uid: String,
    /// When a timed event starts; ignored when `all_day` is set.
    pub start: DateTime<Utc>,
    /// Some(day) makes this an all-day event on that date (a due date).
    pub all_day: Option<NaiveDate>,
    pub summary: String,
    /// Multi-line text is allowed.
    pub description: String,
    /// Link to the procedure page.
    pub url: Option<String>,
    /// For example `deadline`, `reminder`, `escalation`.
    pub categories: Vec<String>,
}

/// A calendar of events, rendered for subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// Shown by clients as the calendar's name (`X-WR-CALNAME`).
    pub name: String,
    /// IANA zone clients should display in (`X-WR-TIMEZONE`), e.g. `Asia/Bishkek`; times are written in UTC.
    pub time_zone_hint: String,
    /// The DTSTAMP of every event: the injected clock's now, never the system clock.
    pub generated: DateTime<Utc>,
    pub events: Vec<FeedEvent>,
}

/// The feed as `text/calendar; charset=utf-8`: CRLF line endings, lines folded at 75 octets.
pub fn render(feed: &Feed) -> String {
    let mut out = String::new();
    push_line(&mut out, "BEGIN:VCALENDAR");
    push_line(&mut out, "VERSION:2.0");
    push_line(&mut out, &format!("PRODID:{PRODID}"));
    push_line(&mut out, "CALSCALE:GREGORIAN");
    push_line(&mut out, "METHOD:PUBLISH");
    push_line(
        &mut out,
        &format!("X-WR-CALNAME:{}", escape_text(&feed.name)),
    );
    push_line(
        &mut out,
        &format!("X-WR-TIMEZONE:{}", escape_text(&feed.time_zone_hint)),
    );
    for event in &feed.events {
        push_event(&mut out, event, feed.generated);
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

fn push_event(out: &mut String, event: &FeedEvent, generated: DateTime<Utc>) {
    push_line(out, "BEGIN:VEVENT");
    push_line(out, &format!("UID:{}", safe_uid(&event.uid)));
    push_line(out, &format!("DTSTAMP:{}", utc_stamp(generated)));
    match event.all_day {
        Some(day) => {
            push_line(out, &format!("DTSTART;VALUE=DATE:{}", date_stamp(day)));
            // DTEND of an all-day event is exclusive: the next day. DURATION only at chrono's last day.
            match day.checked_add_days(Days::new(1)) {
                Some(next) => push_line(out, &format!("DTEND;VALUE=DATE:{}", date_stamp(next))),
                None => push_line(out, "DURATION:P1D"),
            }
        }
        None => {
            push_line(out, &format!("DTSTART:{}", utc_stamp(event.start)));
            match event.start.checked_add_signed(TIMED_EVENT_LENGTH) {
                Some(end) => push_line(out, &format!("DTEND:{}", utc_stamp(end))),
                None => push_line(out, "DURATION:PT30M"),
            }
        }
    }
    push_line(out, &format!("SUMMARY:{}", escape_text(&event.summary)));
    push_line(
        out,
        &format!("DESCRIPTION:{}", escape_text(&event.description)),
    );
    if let Some(url) = &event.url {
        // A URI is not TEXT: no escaping, but a line break in it would start a new property.
        let url: String = url.chars().filter(|c| !c.is_control()).collect();
        push_line(out, &format!("URL:{url}"));
    }
    if !event.categories.is_empty() {
        let categories: Vec<String> = event.categories.iter().map(|c| escape_text(c)).collect();
        push_line(out, &format!("CATEGORIES:{}", categories.join(",")));
    }
    // Deadlines are reminders, not meetings: they must not block anyone's free/busy time.
    push_line(out, "TRANSP:TRANSPARENT");
    push_line(out, "END:VEVENT");
}

fn utc_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

fn date_stamp(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

/// RFC 5545 §3.3.11 TEXT: backslash, semicolon, comma and line breaks escaped; other control
/// characters, which TEXT does not allow, dropped (HTAB is allowed and kept).
fn escape_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            ';' => escaped.push_str("\\;"),
            ',' => escaped.push_str("\\,"),
            '\n' => escaped.push_str("\\n"),
            '\r' => {
                // CRLF and a lone CR are both one line break.
                chars.next_if_eq(&'\n');
                escaped.push_str("\\n");
            }
            '\t' => escaped.push('\t'),
            c if c.is_control() => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// The caller's key, percent-encoded outside a small readable set, so that the UID needs no
/// escaping in any client and two different keys never collapse into one UID.
fn safe_uid(key: &str) -> String {
    let mut uid = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' => {
                uid.push(char::from(byte));
            }
            _ => uid.push_str(&format!("%{byte:02X}")),
        }
    }
    uid
}

/// Writes one content line folded at 75 octets (RFC 5545 §3.1), each physical line ending in CRLF.
fn push_line(out: &mut String, line: &str) {
    let mut rest = line;
    // The first physical line holds 75 octets; a continuation spends one on its leading space.
    let mut room = LINE_OCTETS;
    while rest.len() > room {
        let cut = fold_point(rest, room);
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        room = LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

/// The last character boundary within `room` octets that has no whitespace on either side:
/// several parsers (the `ical` crate, some Outlook versions) trim physical lines and would lose
/// a space next to a fold. A stretch of nothing but whitespace is cut at its last boundary.
fn fold_point(rest: &str, room: usize) -> usize {
    let boundaries: Vec<usize> = rest
        .char_indices()
        .map(|(at, _)| at)
        .filter(|&at| at > 0 && at <= room)
        .collect();
    let beside_whitespace = |at: usize| {
        rest[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace)
            || rest[at..].chars().next().is_some_and(char::is_whitespace)
    };
    boundaries
        .iter()
        .rev()
        .copied()
        .find(|&at| !beside_whitespace(at))
        .or_else(|| boundaries.last().copied())
        // `rest` is longer than `room` (at least 74 octets) and a character is at most 4, so a
        // boundary exists; the fallback only keeps this total.
        .unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ical::parser::ical::component::{IcalCalendar, IcalEvent};

    const RUSSIAN_SUMMARY: &str = "Срок: Европейская конвенция о защите животных, содержащихся на фермах (ETS № 87) — Жогорку Кенеш Кыргызской Республики";

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("a valid test time")
    }

    fn reminder() -> FeedEvent {
        FeedEvent {
            uid: "reminder:proc-7:signature:2026-03-01".into(),
            start: at(2026, 3, 1, 9, 15, 0),
            all_day: None,
            summary: "Reminder: ETS No. 112 — Parliament".into(),
            description: "Stage: signature; owner: MFA, legal department\nSecond line\r\nThird, with a \\ backslash".into(),
            url: Some("https://accession.example/procedures/7".into()),
            categories: vec!["reminder".into()],
        }
    }

    fn deadline() -> FeedEvent {
        FeedEvent {
            uid: "procedure-7:due".into(),
            start: at(2026, 4, 30, 0, 0, 0),
            all_day: NaiveDate::from_ymd_opt(2026, 4, 30),
            summary: RUSSIAN_SUMMARY.into(),
            description: "Ратификация; депонирование, уведомление\nвторая строка".into(),
            url: None,
            categories: vec!["deadline".into(), "escalation".into()],
        }
    }

    fn feed(events: Vec<FeedEvent>) -> Feed {
        Feed {
            name: "Жогорку Кенеш — сроки".into(),
            time_zone_hint: "Asia/Bishkek".into(),
            generated: at(2001, 2, 3, 4, 5, 6),
            events,
        }
    }

    fn parse(text: &str) -> IcalCalendar {
        let mut calendars = ical::IcalParser::new(text.as_bytes());
        let calendar = calendars
            .next()
            .expect("one VCALENDAR")
            .expect("the parser accepts the feed");
        assert!(calendars.next().is_none(), "exactly one VCALENDAR");
        calendar
    }

    /// Reverses RFC 5545 TEXT escaping; the `ical` parser returns values as written.
    fn unescape(value: &str) -> String {
        let mut out = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        }
        out
    }

    fn property<'a>(
        properties: &'a [ical::property::Property],
        name: &str,
    ) -> &'a ical::property::Property {
        properties
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} is present"))
    }

    fn value(event: &IcalEvent, name: &str) -> String {
        property(&event.properties, name)
            .value
            .clone()
            .unwrap_or_default()
    }

    fn params(event: &IcalEvent, name: &str) -> Vec<(String, Vec<String>)> {
        property(&event.properties, name)
            .params
            .clone()
            .unwrap_or_default()
    }

    #[test]
    fn a_feed_parses_back_into_the_values_it_was_given() {
        let text = render(&feed(vec![reminder(), deadline()]));
        assert!(
            text.lines()
                .any(|l| l.starts_with("SUMMARY:Срок") && !l.contains("Республики")),
            "the Russian summary is long enough to be folded:\n{text}"
        );

        let calendar = parse(&text);
        let [timed, all_day] = calendar.events.as_slice() else {
            panic!("two events, got {}", calendar.events.len());
        };

        assert_eq!(value(timed, "UID"), "reminder:proc-7:signature:2026-03-01");
        assert_eq!(
            unescape(&value(timed, "SUMMARY")),
            "Reminder: ETS No. 112 — Parliament"
        );
        assert_eq!(
            unescape(&value(timed, "DESCRIPTION")),
            "Stage: signature; owner: MFA, legal department\nSecond line\nThird, with a \\ backslash"
        );
        assert_eq!(value(timed, "DTSTART"), "20260301T091500Z");
        assert_eq!(params(timed, "DTSTART"), vec![]);
        assert_eq!(value(timed, "DTEND"), "20260301T094500Z");
        assert_eq!(
            value(timed, "URL"),
            "https://accession.example/procedures/7"
        );
        assert_eq!(unescape(&value(timed, "CATEGORIES")), "reminder");
        assert_eq!(value(timed, "TRANSP"), "TRANSPARENT");

        assert_eq!(value(all_day, "UID"), "procedure-7:due");
        assert_eq!(unescape(&value(all_day, "SUMMARY")), RUSSIAN_SUMMARY);
        assert_eq!(
            unescape(&value(all_day, "DESCRIPTION")),
            "Ратификация; депонирование, уведомление\nвторая строка"
        );
        assert_eq!(value(all_day, "DTSTART"), "20260430");
        assert_eq!(
            params(all_day, "DTSTART"),
            vec![("VALUE".into(), vec!["DATE".into()])]
        );
        assert_eq!(value(all_day, "DTEND"), "20260501");
        assert_eq!(
            params(all_day, "DTEND"),
            vec![("VALUE".into(), vec!["DATE".into()])]
        );
        assert_eq!(value(all_day, "CATEGORIES"), "deadline,escalation");
        assert!(!all_day.properties.iter().any(|p| p.name == "URL"));
        assert_eq!(value(all_day, "TRANSP"), "TRANSPARENT");
    }

    #[test]
    fn text_values_escape_backslash_semicolon_comma_and_line_breaks() {
        assert_eq!(
            escape_text("a\\b;c,d\ne\r\nf\rg"),
            "a\\\\b\\;c\\,d\\ne\\nf\\ng"
        );
        assert_eq!(escape_text("bell\u{7}\tand tab"), "bell\tand tab");
    }

    #[test]
    fn every_physical_line_fits_75_octets_ends_with_crlf_and_is_whole_utf8() {
        let mut long = deadline();
        long.description = format!("{} 😀🇰🇬 {}", RUSSIAN_SUMMARY.repeat(3), "ж".repeat(200));
        let text = render(&feed(vec![reminder(), long]));
        let bytes = text.as_bytes();

        assert!(bytes.ends_with(b"\r\n"));
        let mut folded = 0;
        for physical in bytes.split_inclusive(|&b| b == b'\n') {
            let content = physical
                .strip_suffix(b"\r\n")
                .unwrap_or_else(|| panic!("line ends with CRLF: {physical:?}"));
            assert!(
                content.len() <= 75,
                "{} octets: {}",
                content.len(),
                String::from_utf8_lossy(content)
            );
            assert!(!content.contains(&b'\r'), "no bare CR");
            std::str::from_utf8(content).expect("a fold never splits a UTF-8 character");
            if content.starts_with(b" ") {
                folded += 1;
            }
        }
        assert!(
            folded > 10,
            "the long description was folded ({folded} continuation lines)"
        );
    }

    #[test]
    fn folding_keeps_every_space_whatever_the_offset() {
        // Shifting the text moves each fold point across every character, spaces included.
        for shift in 0..80 {
            let mut event = deadline();
            event.summary = format!("{}{}", "x".repeat(shift), RUSSIAN_SUMMARY);
            let calendar = parse(&render(&feed(vec![event.clone()])));
            assert_eq!(
                unescape(&value(&calendar.events[0], "SUMMARY")),
                event.summary,
                "shifted by {shift}"
            );
        }
    }

    #[test]
    fn every_event_is_stamped_with_the_injected_generation_time() {
        let feed = feed(vec![reminder(), deadline()]);
        let calendar = parse(&render(&feed));
        for event in &calendar.events {
            let stamp =
                chrono::NaiveDateTime::parse_from_str(&value(event, "DTSTAMP"), "%Y%m%dT%H%M%SZ")
                    .expect("DTSTAMP is a UTC date-time")
                    .and_utc();
            assert_eq!(stamp, feed.generated);
        }
    }

    #[test]
    fn an_empty_feed_is_still_a_calendar_the_parser_accepts() {
        let text = render(&feed(vec![]));
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"));

        let calendar = parse(&text);
        assert!(calendar.events.is_empty());
        let header = |name: &str| {
            property(&calendar.properties, name)
                .value
                .clone()
                .unwrap_or_default()
        };
        assert_eq!(header("VERSION"), "2.0");
        assert_eq!(header("PRODID"), "-//Accession//Accession//EN");
        assert_eq!(header("CALSCALE"), "GREGORIAN");
        assert_eq!(header("METHOD"), "PUBLISH");
        assert_eq!(unescape(&header("X-WR-CALNAME")), "Жогорку Кенеш — сроки");
        assert_eq!(header("X-WR-TIMEZONE"), "Asia/Bishkek");
    }

    #[test]
    fn uids_are_stable_across_renders_and_need_no_escaping() {
        let mut awkward = reminder();
        awkward.uid = "timer;7,Парламент \\ due\n%".into();
        let first = parse(&render(&feed(vec![awkward.clone(), deadline()])));
        let mut later = feed(vec![awkward, deadline()]);
        later.generated = at(2030, 1, 1, 0, 0, 0);
        let second = parse(&render(&later));

        let uids = |c: &IcalCalendar| c.events.iter().map(|e| value(e, "UID")).collect::<Vec<_>>();
        assert_eq!(uids(&first), uids(&second));
        for uid in uids(&first) {
            assert!(
                uid.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"\\;,\"".contains(&b)),
                "{uid} needs no escaping"
            );
        }
        assert_eq!(
            uids(&first)[1],
            "procedure-7:due",
            "readable keys stay readable"
        );
        assert_ne!(safe_uid("a;b"), safe_uid("a,b"));
        assert_ne!(
            safe_uid("a;b"),
            safe_uid("a%3Bb"),
            "the escape character is itself escaped"
        );
    }
}
