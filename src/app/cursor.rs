//! Keyset cursors: what a list hands out so its next page continues where this one stopped.
//!
//! One form for every list: hex of ASCII text `<kind>:<fields>`, so callers pass a cursor back
//! rather than build one, and its content can change. Each kind's [`Cursor::PATTERN`] is the exact
//! set of strings its decoder takes (the API documents it, and a property test checks that every
//! string matching it decodes), so a client, or a fuzzer reading the OpenAPI document, can tell
//! from the schema alone what a cursor may look like.

use chrono::{DateTime, Utc};

use super::AppError;
use crate::ids::ProcedureId;
use crate::store::{Keyset, UrgencyKeyset};

/// A list's position, as text, behind an opaque hex form.
pub trait Cursor: Sized {
    /// The regular expression (ECMA 262, as OpenAPI uses) of exactly the cursors `decode` takes,
    /// the empty one (the first page) included.
    const PATTERN: &'static str;

    /// The position as plain text `<kind>:<fields>` (ASCII).
    fn to_text(&self) -> String;

    /// The position a plain text names, if it is one of this kind.
    fn from_text(text: &str) -> Option<Self>;

    /// The cursor handed out.
    fn encode(&self) -> String {
        hex::encode(self.to_text())
    }

    /// The position a cursor names: none for no cursor or an empty one (`cursor=`, the first
    /// page); refused, naming the `cursor` parameter, when it is not one this service gave out.
    fn decode(cursor: Option<&str>) -> Result<Option<Self>, AppError> {
        let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        // Lowercase only, as handed out: the pattern says so, and what it refuses is refused.
        Some(cursor)
            .filter(|c| c.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|c| hex::decode(c).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| Self::from_text(&text))
            .map(Some)
            .ok_or_else(|| AppError::InvalidField {
                field: "cursor",
                detail: format!(
                    "cursor `{}` is not one this service gave out: pass the one the previous \
                     page gave (its `next_cursor`, or its `Link: <…>; rel=\"next\"`) unchanged",
                    cursor.chars().take(40).collect::<String>()
                ),
            })
    }
}

/// Hex of one ASCII digit, 1 to `n` of them: a non-negative integer that fits an i64 when
/// `n <= 18`.
macro_rules! hex_digits {
    ($n:literal) => {
        concat!("(3[0-9]){1,", $n, "}")
    };
}

/// Hex of a slug (`ids::check_slug`): a lowercase letter or digit, then up to 63 of those or `-`, `_`.
macro_rules! hex_slug {
    () => {
        "(3[0-9]|6[1-9a-f]|7[0-9a])(3[0-9]|6[1-9a-f]|7[0-9a]|2d|5f){0,63}"
    };
}

fn digits(text: &str, max: usize) -> Option<i64> {
    (1..=max).contains(&text.len()).then_some(())?;
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse().ok())?
}

/// Procedures in id order: after or before a procedure (`a:<id>`, `b:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcedureCursor(pub Keyset);

impl Cursor for ProcedureCursor {
    const PATTERN: &'static str = concat!("^(6[12]3a", hex_slug!(), ")?$");

    fn to_text(&self) -> String {
        match &self.0 {
            Keyset::First => String::new(),
            Keyset::After(id) => format!("a:{id}"),
            Keyset::Before(id) => format!("b:{id}"),
        }
    }

    fn from_text(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once(':')?;
        let id = ProcedureId::parse(id.to_string()).ok()?;
        match kind {
            "a" => Some(Self(Keyset::After(id))),
            "b" => Some(Self(Keyset::Before(id))),
            _ => None,
        }
    }
}

/// The dashboard, most urgent first: after or before a position (urgency day, procedure id),
/// the day as its number of days from the common era (`u:<days>:<id>`, `v:<days>:<id>`), so
/// every number the pattern allows is a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrgencyCursor(pub UrgencyKeyset);

impl Cursor for UrgencyCursor {
    const PATTERN: &'static str = concat!("^(7[56]3a", hex_digits!(7), "3a", hex_slug!(), ")?$");

    fn to_text(&self) -> String {
        use chrono::Datelike;
        match &self.0 {
            UrgencyKeyset::First => String::new(),
            UrgencyKeyset::After(day, id) => format!("u:{}:{id}", day.num_days_from_ce()),
            UrgencyKeyset::Before(day, id) => format!("v:{}:{id}", day.num_days_from_ce()),
        }
    }

    fn from_text(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        let (days, id) = rest.split_once(':')?;
        let day =
            chrono::NaiveDate::from_num_days_from_ce_opt(i32::try_from(digits(days, 7)?).ok()?)?;
        let id = ProcedureId::parse(id.to_string()).ok()?;
        match kind {
            "u" => Some(Self(UrgencyKeyset::After(day, id))),
            "v" => Some(Self(UrgencyKeyset::Before(day, id))),
            _ => None,
        }
    }
}

/// The outbox, newest first: before email `id` (`o:<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxCursor(pub i64);

/// The checkpoints, newest first: before checkpoint `id` (`c:<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointCursor(pub i64);

impl Cursor for OutboxCursor {
    const PATTERN: &'static str = concat!("^(6f3a", hex_digits!(18), ")?$");
    fn to_text(&self) -> String {
        format!("o:{}", self.0)
    }
    fn from_text(text: &str) -> Option<Self> {
        Some(Self(digits(text.strip_prefix("o:")?, 18)?))
    }
}

impl Cursor for CheckpointCursor {
    const PATTERN: &'static str = concat!("^(633a", hex_digits!(18), ")?$");
    fn to_text(&self) -> String {
        format!("c:{}", self.0)
    }
    fn from_text(text: &str) -> Option<Self> {
        Some(Self(digits(text.strip_prefix("c:")?, 18)?))
    }
}

/// Timers in firing order: after the timer `id` firing at `at`
/// (`t:<seconds since 1970>:<nanoseconds>:<id>`, so no precision is lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerCursor {
    pub at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor for TimerCursor {
    const PATTERN: &'static str = concat!(
        "^(743a",
        hex_digits!(12),
        "3a",
        hex_digits!(9),
        "3a",
        hex_digits!(18),
        ")?$"
    );
    fn to_text(&self) -> String {
        format!(
            "t:{}:{}:{}",
            self.at.timestamp(),
            self.at.timestamp_subsec_nanos(),
            self.id
        )
    }
    fn from_text(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix("t:")?.split(':');
        let seconds = digits(parts.next()?, 12)?;
        let nanos = u32::try_from(digits(parts.next()?, 9)?).ok()?;
        let id = digits(parts.next()?, 18)?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            at: DateTime::from_timestamp(seconds, nanos)?,
            id,
        })
    }
}

/// History rows by procedure, then sequence: after row `sequence` of `procedure`
/// (`h:<procedure>:<sequence>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCursor {
    pub procedure: ProcedureId,
    pub sequence: i64,
}

impl Cursor for HistoryCursor {
    const PATTERN: &'static str = concat!("^(683a", hex_slug!(), "3a", hex_digits!(18), ")?$");
    fn to_text(&self) -> String {
        format!("h:{}:{}", self.procedure, self.sequence)
    }
    fn from_text(text: &str) -> Option<Self> {
        let (procedure, sequence) = text.strip_prefix("h:")?.rsplit_once(':')?;
        Some(Self {
            procedure: ProcedureId::parse(procedure.to_string()).ok()?,
            sequence: digits(sequence, 18)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::string::string_regex;

    use super::*;

    /// The pattern as the `regex` crate reads it: OpenAPI's anchors are the same here.
    fn strings_of<C: Cursor>() -> impl Strategy<Value = String> {
        let body = C::PATTERN.trim_start_matches('^').trim_end_matches('$');
        string_regex(body).expect("a pattern proptest can generate from")
    }

    fn matches<C: Cursor>(cursor: &str) -> bool {
        regex::Regex::new(C::PATTERN)
            .expect("a valid pattern")
            .is_match(cursor)
    }

    fn round_trip<C: Cursor + PartialEq + std::fmt::Debug>(c: C) {
        let encoded = c.encode();
        assert!(matches::<C>(&encoded), "{encoded} matches {}", C::PATTERN);
        assert_eq!(C::decode(Some(&encoded)).unwrap(), Some(c));
    }

    #[test]
    fn every_cursor_handed_out_matches_its_pattern_and_reads_back() {
        round_trip(ProcedureCursor(Keyset::After(
            ProcedureId::parse("kg-cets-210".to_string()).unwrap(),
        )));
        round_trip(ProcedureCursor(Keyset::Before(
            ProcedureId::parse("0_a-b".to_string()).unwrap(),
        )));
        round_trip(UrgencyCursor(UrgencyKeyset::After(
            chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
            ProcedureId::parse("kg-cets-210".to_string()).unwrap(),
        )));
        round_trip(UrgencyCursor(UrgencyKeyset::Before(
            crate::store::NO_URGENCY,
            ProcedureId::parse("m-00".to_string()).unwrap(),
        )));
        round_trip(OutboxCursor(0));
        round_trip(CheckpointCursor(999_999_999_999_999_999));
        round_trip(TimerCursor {
            at: DateTime::from_timestamp(1_764_547_200, 123_456_789).unwrap(),
            id: 42,
        });
        round_trip(TimerCursor {
            at: DateTime::from_timestamp(0, 0).unwrap(),
            id: 1,
        });
        round_trip(HistoryCursor {
            procedure: ProcedureId::parse("kg-ets-112".to_string()).unwrap(),
            sequence: 7,
        });
    }

    #[test]
    fn no_cursor_and_an_empty_one_are_the_first_page() {
        assert_eq!(OutboxCursor::decode(None).unwrap(), None);
        assert_eq!(OutboxCursor::decode(Some("")).unwrap(), None);
    }

    #[test]
    fn what_was_not_handed_out_is_refused_naming_the_cursor() {
        let outbox = OutboxCursor(5).encode();
        for bad in [
            "zz",
            "6e6f",
            "6F3A31",
            "ff",
            "kg-ets-112",
            // Another list's cursor is not this one's.
            CheckpointCursor(5).encode().as_str(),
            // Text that is ASCII but not a position.
            &hex::encode("o:-1"),
            &hex::encode("o:1:2"),
            &hex::encode("o:99999999999999999999"),
        ] {
            assert!(!matches::<OutboxCursor>(bad), "{bad}");
            match OutboxCursor::decode(Some(bad)) {
                Err(AppError::InvalidField { field, detail }) => {
                    assert_eq!(field, "cursor");
                    assert!(detail.contains("not one this service gave out"), "{detail}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches::<OutboxCursor>(&outbox));
        for bad in [hex::encode("t:1:1000000000:1"), hex::encode("t:1:2")] {
            assert!(TimerCursor::decode(Some(&bad)).is_err(), "{bad}");
        }
        assert!(ProcedureCursor::decode(Some(&hex::encode("a:Not-A-Slug"))).is_err());
    }

    proptest! {
        /// The documented pattern is exactly what is taken: whatever matches it decodes, so a
        /// client that keeps to the schema is never refused.
        #[test]
        fn whatever_matches_the_pattern_decodes(
            procedure in strings_of::<ProcedureCursor>(),
            outbox in strings_of::<OutboxCursor>(),
            checkpoint in strings_of::<CheckpointCursor>(),
            timer in strings_of::<TimerCursor>(),
            history in strings_of::<HistoryCursor>(),
            urgency in strings_of::<UrgencyCursor>(),
        ) {
            // Empty is the first page (no position); anything else is a position.
            prop_assert_eq!(ProcedureCursor::decode(Some(&procedure)).unwrap().is_some(), !procedure.is_empty());
            prop_assert_eq!(OutboxCursor::decode(Some(&outbox)).unwrap().is_some(), !outbox.is_empty());
            prop_assert_eq!(CheckpointCursor::decode(Some(&checkpoint)).unwrap().is_some(), !checkpoint.is_empty());
            prop_assert_eq!(TimerCursor::decode(Some(&timer)).unwrap().is_some(), !timer.is_empty());
            prop_assert_eq!(HistoryCursor::decode(Some(&history)).unwrap().is_some(), !history.is_empty());
            prop_assert_eq!(UrgencyCursor::decode(Some(&urgency)).unwrap().is_some(), !urgency.is_empty());
        }

        /// And a cursor decodes to the position it was made from.
        #[test]
        fn a_timer_cursor_keeps_every_nanosecond(
            seconds in 0i64..=999_999_999_999, nanos in 0u32..1_000_000_000, id in 0i64..i64::MAX,
        ) {
            let id = id % 1_000_000_000_000_000_000;
            let at = DateTime::from_timestamp(seconds, nanos).unwrap();
            let c = TimerCursor { at, id };
            prop_assert_eq!(TimerCursor::decode(Some(&c.encode())).unwrap(), Some(c));
        }
    }
}
