//! A timer's rule in words, in the reader's language: "7 days before the deadline", "every Monday
//! at 09:00", never the source text of the workflow file (`before_due 7 days`, `cron 0 9 * * 1`).
//! Pure.
//!
//! The rules are the strings the engine keeps on each timer (`engine::Timer::rule`):
//! `before_due <period>`, `after_due <period>`, `due`, and `cron <expression>` (five-field
//! crontab). A crontab expression is put in words when its minute and hour are single numbers
//! and its days are a day of the month, a month, one weekday, a list or a range of weekdays;
//! any other (steps, several times a day) is "on a recurring schedule", still without the code.

use crate::calendar::{Period, Unit};
use crate::reference::Language;

/// `rule` in words for a reader of `language`.
pub fn rule_in_words(rule: &str, language: Language) -> String {
    let language = super::catalogue_language(language);
    let rule = rule.trim();
    if rule == "due" {
        return match language {
            Language::Ru => "в день истечения срока".into(),
            Language::Ky => "мөөнөт бүткөн күнү".into(),
            _ => "on the deadline".into(),
        };
    }
    if let Some(period) = rule.strip_prefix("before_due ")
        && let Ok(p) = period.trim().parse::<Period>()
    {
        let amount = period_words(p, language);
        return match language {
            Language::Ru => format!("за {amount} до срока"),
            Language::Ky => format!("мөөнөткө {amount} калганда"),
            _ => format!("{amount} before the deadline"),
        };
    }
    if let Some(period) = rule.strip_prefix("after_due ")
        && let Ok(p) = period.trim().parse::<Period>()
    {
        let amount = period_words(p, language);
        return match language {
            Language::Ru => format!("через {amount} после срока"),
            Language::Ky => format!("мөөнөт өткөндөн {amount} кийин"),
            _ => format!("{amount} after the deadline"),
        };
    }
    if let Some(expression) = rule.strip_prefix("cron ")
        && let Some(words) = cron_words(expression, language)
    {
        return words;
    }
    match language {
        Language::Ru => "по расписанию, заданному в порядке этапов".into(),
        Language::Ky => "этаптардын тартибинде белгиленген ырааттама боюнча".into(),
        _ => "on a recurring schedule set by the workflow".into(),
    }
}

/// "7 days", "7 дней", "7 күн" (Russian in the accusative, as after "за" and "через").
pub fn period_words(p: Period, language: Language) -> String {
    let n = p.amount;
    match super::catalogue_language(language) {
        Language::Ru => {
            let form = |one: &'static str, few: &'static str, many: &'static str| {
                plural_ru(i64::from(n), one, few, many)
            };
            let unit = match p.unit {
                Unit::CalendarDays => form("день", "дня", "дней"),
                Unit::BusinessDays => form("рабочий день", "рабочих дня", "рабочих дней"),
                Unit::Weeks => form("неделю", "недели", "недель"),
                Unit::Months => form("месяц", "месяца", "месяцев"),
                Unit::Years => form("год", "года", "лет"),
            };
            format!("{n} {unit}")
        }
        // Kyrgyz nouns stay singular after a number.
        Language::Ky => {
            let unit = match p.unit {
                Unit::CalendarDays => "күн",
                Unit::BusinessDays => "иш күнү",
                Unit::Weeks => "жума",
                Unit::Months => "ай",
                Unit::Years => "жыл",
            };
            format!("{n} {unit}")
        }
        _ => p.to_string(),
    }
}

/// The Russian form for `n`: 1 день, 3 дня, 5 дней, 11 дней, 21 день.
pub fn plural_ru<'a>(n: i64, one: &'a str, few: &'a str, many: &'a str) -> &'a str {
    let (n10, n100) = (n.abs() % 10, n.abs() % 100);
    if n10 == 1 && n100 != 11 {
        one
    } else if (2..=4).contains(&n10) && !(12..=14).contains(&n100) {
        few
    } else {
        many
    }
}

/// The weekdays, Monday first, in each form the sentences need.
struct Weekday {
    en: &'static str,
    /// "каждый понедельник", "каждую среду", "каждое воскресенье"
    ru_every: &'static str,
    /// "по понедельникам"
    ru_dative_plural: &'static str,
    /// "с понедельника"
    ru_genitive: &'static str,
    /// "по пятницу"
    ru_accusative: &'static str,
    ky: &'static str,
    /// "дүйшөмбүдөн"
    ky_from: &'static str,
    /// "жумага"
    ky_to: &'static str,
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday {
        en: "Monday",
        ru_every: "каждый понедельник",
        ru_dative_plural: "понедельникам",
        ru_genitive: "понедельника",
        ru_accusative: "понедельник",
        ky: "дүйшөмбү",
        ky_from: "дүйшөмбүдөн",
        ky_to: "дүйшөмбүгө",
    },
    Weekday {
        en: "Tuesday",
        ru_every: "каждый вторник",
        ru_dative_plural: "вторникам",
        ru_genitive: "вторника",
        ru_accusative: "вторник",
        ky: "шейшемби",
        ky_from: "шейшембиден",
        ky_to: "шейшембиге",
    },
    Weekday {
        en: "Wednesday",
        ru_every: "каждую среду",
        ru_dative_plural: "средам",
        ru_genitive: "среды",
        ru_accusative: "среду",
        ky: "шаршемби",
        ky_from: "шаршембиден",
        ky_to: "шаршембиге",
    },
    Weekday {
        en: "Thursday",
        ru_every: "каждый четверг",
        ru_dative_plural: "четвергам",
        ru_genitive: "четверга",
        ru_accusative: "четверг",
        ky: "бейшемби",
        ky_from: "бейшембиден",
        ky_to: "бейшембиге",
    },
    Weekday {
        en: "Friday",
        ru_every: "каждую пятницу",
        ru_dative_plural: "пятницам",
        ru_genitive: "пятницы",
        ru_accusative: "пятницу",
        ky: "жума",
        ky_from: "жумадан",
        ky_to: "жумага",
    },
    Weekday {
        en: "Saturday",
        ru_every: "каждую субботу",
        ru_dative_plural: "субботам",
        ru_genitive: "субботы",
        ru_accusative: "субботу",
        ky: "ишемби",
        ky_from: "ишембиден",
        ky_to: "ишембиге",
    },
    Weekday {
        en: "Sunday",
        ru_every: "каждое воскресенье",
        ru_dative_plural: "воскресеньям",
        ru_genitive: "воскресенья",
        ru_accusative: "воскресенье",
        ky: "жекшемби",
        ky_from: "жекшембиден",
        ky_to: "жекшембиге",
    },
];

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_RU_GENITIVE: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];
const MONTHS_KY: [&str; 12] = [
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
];

/// A crontab weekday (0 or 7 Sunday, 1 Monday, or a three-letter English name) as an index into
/// `WEEKDAYS` (Monday 0).
fn weekday(text: &str) -> Option<usize> {
    let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Some(i);
    }
    match text.parse::<u32>().ok()? {
        0 | 7 => Some(6),
        n @ 1..=6 => Some(n as usize - 1),
        _ => None,
    }
}

/// The weekdays a crontab day-of-week field names: one, a list, or a range (Monday 0).
enum Days {
    Every,
    One(usize),
    List(Vec<usize>),
    Range(usize, usize),
}

fn days_of_week(field: &str) -> Option<Days> {
    if field == "*" {
        return Some(Days::Every);
    }
    if let Some((from, to)) = field.split_once('-') {
        let (from, to) = (weekday(from)?, weekday(to)?);
        return (from < to).then_some(Days::Range(from, to));
    }
    if field.contains(',') {
        let mut days = field.split(',').map(weekday).collect::<Option<Vec<_>>>()?;
        days.sort_unstable();
        days.dedup();
        return Some(Days::List(days));
    }
    weekday(field).map(Days::One)
}

/// `items` joined as a sentence joins them: "a, b and c".
fn and_list(items: &[&str], and: &str) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} {and} {last}", init.join(", ")),
    }
}

fn cron_words(expression: &str, language: Language) -> Option<String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return None;
    };
    let (minute, hour) = (minute.parse::<u32>().ok()?, hour.parse::<u32>().ok()?);
    if minute > 59 || hour > 23 {
        return None;
    }
    let time = format!("{hour:02}:{minute:02}");
    let dom = match dom {
        "*" => None,
        d => Some(d.parse::<u32>().ok().filter(|d| (1..=31).contains(d))?),
    };
    let month = match month {
        "*" => None,
        m => Some(m.parse::<usize>().ok().filter(|m| (1..=12).contains(m))? - 1),
    };
    let days = days_of_week(dow)?;
    let ru = language == Language::Ru;
    let ky = language == Language::Ky;
    Some(match (dom, month, days) {
        (None, None, Days::Every) if ru => format!("ежедневно в {time}"),
        (None, None, Days::Every) if ky => format!("күн сайын, саат {time}"),
        (None, None, Days::Every) => format!("every day at {time}"),
        (None, None, Days::One(d)) if ru => format!("{} в {time}", WEEKDAYS[d].ru_every),
        (None, None, Days::One(d)) if ky => format!("ар {} күнү, саат {time}", WEEKDAYS[d].ky),
        (None, None, Days::One(d)) => format!("every {} at {time}", WEEKDAYS[d].en),
        (None, None, Days::List(ds)) if ru => {
            let names: Vec<&str> = ds.iter().map(|d| WEEKDAYS[*d].ru_dative_plural).collect();
            format!("по {} в {time}", and_list(&names, "и"))
        }
        (None, None, Days::List(ds)) if ky => {
            let names: Vec<&str> = ds.iter().map(|d| WEEKDAYS[*d].ky).collect();
            format!("ар {} күнү, саат {time}", and_list(&names, "жана"))
        }
        (None, None, Days::List(ds)) => {
            let names: Vec<&str> = ds.iter().map(|d| WEEKDAYS[*d].en).collect();
            format!("every {} at {time}", and_list(&names, "and"))
        }
        (None, None, Days::Range(a, b)) if ru => format!(
            "ежедневно с {} по {} в {time}",
            WEEKDAYS[a].ru_genitive, WEEKDAYS[b].ru_accusative
        ),
        (None, None, Days::Range(a, b)) if ky => format!(
            "{} {} чейин күн сайын, саат {time}",
            WEEKDAYS[a].ky_from, WEEKDAYS[b].ky_to
        ),
        (None, None, Days::Range(a, b)) => format!(
            "every day from {} to {} at {time}",
            WEEKDAYS[a].en, WEEKDAYS[b].en
        ),
        (Some(d), None, Days::Every) if ru => format!("{d}-го числа каждого месяца в {time}"),
        (Some(d), None, Days::Every) if ky => format!("ар айдын {d}-күнү, саат {time}"),
        (Some(d), None, Days::Every) => format!("on day {d} of every month at {time}"),
        (Some(d), Some(m), Days::Every) if ru => {
            format!("ежегодно {d} {} в {time}", MONTHS_RU_GENITIVE[m])
        }
        (Some(d), Some(m), Days::Every) if ky => {
            format!("жыл сайын {} айынын {d}-күнү, саат {time}", MONTHS_KY[m])
        }
        (Some(d), Some(m), Days::Every) => format!("every year on {d} {} at {time}", MONTHS_EN[m]),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(rule: &str) -> [String; 3] {
        [Language::En, Language::Ru, Language::Ky].map(|l| rule_in_words(rule, l))
    }

    #[test]
    fn periods_before_and_after_the_deadline() {
        assert_eq!(
            all("after_due 7 days"),
            [
                "7 days after the deadline",
                "через 7 дней после срока",
                "мөөнөт өткөндөн 7 күн кийин"
            ]
        );
        assert_eq!(
            all("before_due 1 day"),
            [
                "1 day before the deadline",
                "за 1 день до срока",
                "мөөнөткө 1 күн калганда"
            ]
        );
        assert_eq!(
            all("before_due 2 weeks"),
            [
                "2 weeks before the deadline",
                "за 2 недели до срока",
                "мөөнөткө 2 жума калганда"
            ]
        );
        assert_eq!(
            all("after_due 5 business days"),
            [
                "5 business days after the deadline",
                "через 5 рабочих дней после срока",
                "мөөнөт өткөндөн 5 иш күнү кийин"
            ]
        );
        assert_eq!(
            rule_in_words("before_due 1 week", Language::Ru),
            "за 1 неделю до срока"
        );
        assert_eq!(
            rule_in_words("before_due 21 days", Language::Ru),
            "за 21 день до срока"
        );
        assert_eq!(
            rule_in_words("before_due 6 months", Language::Ru),
            "за 6 месяцев до срока"
        );
        assert_eq!(
            rule_in_words("after_due 5 years", Language::Ru),
            "через 5 лет после срока"
        );
        assert_eq!(rule_in_words("due", Language::En), "on the deadline");
    }

    #[test]
    fn schedules_in_words() {
        assert_eq!(
            all("cron 0 9 * * 1"),
            [
                "every Monday at 09:00",
                "каждый понедельник в 09:00",
                "ар дүйшөмбү күнү, саат 09:00"
            ]
        );
        assert_eq!(
            all("cron 0 9 1 * *"),
            [
                "on day 1 of every month at 09:00",
                "1-го числа каждого месяца в 09:00",
                "ар айдын 1-күнү, саат 09:00"
            ]
        );
        assert_eq!(
            all("cron 30 14 * * 1-5"),
            [
                "every day from Monday to Friday at 14:30",
                "ежедневно с понедельника по пятницу в 14:30",
                "дүйшөмбүдөн жумага чейин күн сайын, саат 14:30"
            ]
        );
        assert_eq!(
            all("cron 0 9 * * 1,4"),
            [
                "every Monday and Thursday at 09:00",
                "по понедельникам и четвергам в 09:00",
                "ар дүйшөмбү жана бейшемби күнү, саат 09:00"
            ]
        );
        assert_eq!(
            rule_in_words("cron 0 8 * * 0", Language::Ru),
            "каждое воскресенье в 08:00"
        );
        assert_eq!(
            rule_in_words("cron 0 8 * * SUN", Language::En),
            "every Sunday at 08:00"
        );
        assert_eq!(
            rule_in_words("cron 0 10 15 3 *", Language::Ky),
            "жыл сайын март айынын 15-күнү, саат 10:00"
        );
        assert_eq!(
            rule_in_words("cron 0 7 * * *", Language::En),
            "every day at 07:00"
        );
    }

    #[test]
    fn a_schedule_with_no_words_is_still_not_its_code() {
        for rule in ["cron */15 9-17 * * 1-5", "cron 0 0 9 * * Mon", "sometimes"] {
            for words in all(rule) {
                assert!(!words.contains('*'), "{rule}: {words}");
                assert!(!words.contains("cron"), "{rule}: {words}");
            }
        }
    }

    #[test]
    fn french_readers_read_english() {
        assert_eq!(
            rule_in_words("after_due 7 days", Language::Fr),
            "7 days after the deadline"
        );
    }

    proptest! {
        /// No rule the engine writes comes out as its source text, in any language.
        #[test]
        fn no_rule_is_shown_as_its_source(
            amount in 1u32..400,
            unit in prop::sample::select(vec!["days", "business days", "weeks", "months", "years"]),
            side in prop::sample::select(vec!["before_due", "after_due"]),
            minute in 0u32..60,
            hour in 0u32..24,
            dow in 0u32..8,
        ) {
            for rule in [format!("{side} {amount} {unit}"), format!("cron {minute} {hour} * * {dow}")] {
                for words in all(&rule) {
                    prop_assert!(!words.contains("_due"), "{}: {}", rule, words);
                    prop_assert!(!words.contains("cron"), "{}: {}", rule, words);
                    prop_assert!(!words.contains('*'), "{}: {}", rule, words);
                    prop_assert!(words.contains(&amount.to_string()) || rule.starts_with("cron"));
                }
            }
        }
    }
}
