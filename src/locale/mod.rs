//! The message catalogues (`config/locales/{en,ru,ky}.toml`, embedded in the binary): every word
//! the pages, the calendar feed and the command line show a person, in English, Russian and
//! Kyrgyz. Pure once loaded.
//!
//! The catalogues are checked when they are loaded, not when a page needs a key: each must have
//! exactly the keys of the English one, and each message the placeholders (`{seconds}`) of its
//! English form. A missing key is a refusal naming the file and the key, so a catalogue that
//! lacks one never reaches a reader.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use crate::reference::Language;

pub mod refusals;
pub mod rules;

pub use refusals::{Names, refusal};
pub use rules::rule_in_words;

/// The languages people read: the ones with a catalogue, in the order of the catalogues.
pub const LANGUAGES: [Language; 3] = [Language::En, Language::Ru, Language::Ky];

const SOURCES: [(&str, &str); 3] = [
    ("en.toml", include_str!("../../config/locales/en.toml")),
    ("ru.toml", include_str!("../../config/locales/ru.toml")),
    ("ky.toml", include_str!("../../config/locales/ky.toml")),
];

/// A catalogue that cannot be used: every message names the file, and the key where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("locale catalogue config/locales/{file} does not parse: {message}")]
    Invalid { file: String, message: String },
    #[error(
        "locale catalogue config/locales/{file} lacks the key `{key}` that config/locales/{reference} has"
    )]
    Missing {
        file: String,
        key: String,
        reference: String,
    },
    #[error(
        "locale catalogue config/locales/{file} has the key `{key}` that config/locales/{reference} lacks"
    )]
    Extra {
        file: String,
        key: String,
        reference: String,
    },
    #[error(
        "locale catalogue config/locales/{file}, key `{key}`: the placeholders {found} differ from {expected} in config/locales/{reference}"
    )]
    Placeholders {
        file: String,
        key: String,
        reference: String,
        expected: String,
        found: String,
    },
    #[error("locale catalogue config/locales/{file}, key `{key}`: the message is empty")]
    Empty { file: String, key: String },
}

/// One catalogue: key → message.
pub type Catalogue = BTreeMap<String, String>;

/// Parse `sources` (file name, TOML text; the first is the reference) and check that every one
/// has the reference's keys, no other, and the same placeholders in each message.
pub fn load(sources: &[(&str, &str)]) -> Result<Vec<Catalogue>, CatalogueError> {
    let mut catalogues = Vec::with_capacity(sources.len());
    for (file, text) in sources {
        let catalogue: Catalogue = toml::from_str(text).map_err(|e| CatalogueError::Invalid {
            file: file.to_string(),
            message: e.message().to_string(),
        })?;
        if let Some((key, _)) = catalogue.iter().find(|(_, v)| v.trim().is_empty()) {
            return Err(CatalogueError::Empty {
                file: file.to_string(),
                key: key.clone(),
            });
        }
        catalogues.push(catalogue);
    }
    let Some((reference, rest)) = catalogues.split_first() else {
        return Ok(catalogues);
    };
    let reference_file = sources[0].0;
    for (catalogue, (file, _)) in rest.iter().zip(&sources[1..]) {
        if let Some(key) = reference.keys().find(|k| !catalogue.contains_key(*k)) {
            return Err(CatalogueError::Missing {
                file: file.to_string(),
                key: key.clone(),
                reference: reference_file.to_string(),
            });
        }
        if let Some(key) = catalogue.keys().find(|k| !reference.contains_key(*k)) {
            return Err(CatalogueError::Extra {
                file: file.to_string(),
                key: key.clone(),
                reference: reference_file.to_string(),
            });
        }
        for (key, message) in catalogue {
            let (expected, found) = (placeholders(&reference[key]), placeholders(message));
            if expected != found {
                return Err(CatalogueError::Placeholders {
                    file: file.to_string(),
                    key: key.clone(),
                    reference: reference_file.to_string(),
                    expected: format!("{expected:?}"),
                    found: format!("{found:?}"),
                });
            }
        }
    }
    Ok(catalogues)
}

/// The `{name}` placeholders of a message.
fn placeholders(message: &str) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    let mut rest = message;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end)
                if !after[..end].is_empty()
                    && after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                names.insert(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    names
}

static CATALOGUES: LazyLock<Result<Vec<Catalogue>, CatalogueError>> =
    LazyLock::new(|| load(&SOURCES));

/// Check the embedded catalogues; the server and the command line call it when they start, so a
/// broken catalogue stops them with the file and key rather than showing a key to a reader.
pub fn check() -> Result<(), CatalogueError> {
    CATALOGUES.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// The language whose catalogue serves readers of `language` (French readers read English).
pub fn catalogue_language(language: Language) -> Language {
    match language {
        Language::Fr => Language::En,
        other => other,
    }
}

/// The catalogue of `language`.
pub fn catalogue(language: Language) -> &'static Catalogue {
    let all = match CATALOGUES.as_ref() {
        Ok(all) => all,
        // `check` runs at start and the tests load the embedded catalogues: not reached.
        Err(e) => panic!("{e}"),
    };
    let index = match catalogue_language(language) {
        Language::Ru => 1,
        Language::Ky => 2,
        _ => 0,
    };
    &all[index]
}

/// The message `key` in `language`; the key itself if no catalogue has it (a programming error
/// the tests catch: every key the code names is looked up in them).
pub fn text(language: Language, key: &str) -> String {
    catalogue(language)
        .get(key)
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

/// The message `key` in `language` with each `{name}` replaced by its value.
pub fn format(language: Language, key: &str, args: &[(&str, &str)]) -> String {
    let mut message = text(language, key);
    for (name, value) in args {
        message = message.replace(&format!("{{{name}}}"), value);
    }
    message
}

/// The form of a counted message for `n` in `language`: the key `<base>_one`, `<base>_few` or
/// `<base>_many` (every catalogue has all three), its `{name}` replaced by `n`. Russian follows
/// its three forms (1 день, 3 дня, 5 дней, 11 дней, 21 день); English has one and many; Kyrgyz
/// keeps the noun singular after a number, so its three messages are one text.
pub fn counted(language: Language, base: &str, name: &str, n: i64) -> String {
    let form = match catalogue_language(language) {
        Language::Ru => rules::plural_ru(n, "one", "few", "many"),
        _ if n.abs() == 1 => "one",
        _ => "many",
    };
    format(
        language,
        &format!("{base}_{form}"),
        &[(name, &n.to_string())],
    )
}

/// Whether the embedded catalogues have `key` (tests of code that names keys use it).
pub fn has(key: &str) -> bool {
    catalogue(Language::En).contains_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalogues_load() {
        check().unwrap();
        let (en, ru, ky) = (
            catalogue(Language::En),
            catalogue(Language::Ru),
            catalogue(Language::Ky),
        );
        assert_eq!(en.keys().collect::<Vec<_>>(), ru.keys().collect::<Vec<_>>());
        assert_eq!(en.keys().collect::<Vec<_>>(), ky.keys().collect::<Vec<_>>());
        assert_eq!(text(Language::Ru, "sign_in"), "Войти");
        assert_eq!(text(Language::Ky, "sign_in"), "Кирүү");
        assert_eq!(text(Language::Fr, "sign_in"), "Sign in");
    }

    #[test]
    fn a_missing_key_is_refused_at_load_with_the_file_and_the_key() {
        let err = load(&[
            ("en.toml", "a = \"A\"\nb = \"B\"\n"),
            ("ky.toml", "a = \"А\"\n"),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            CatalogueError::Missing {
                file: "ky.toml".into(),
                key: "b".into(),
                reference: "en.toml".into()
            }
        );
        let text = err.to_string();
        assert!(text.contains("config/locales/ky.toml"), "{text}");
        assert!(text.contains("`b`"), "{text}");
    }

    #[test]
    fn a_key_the_reference_lacks_is_refused() {
        let err = load(&[
            ("en.toml", "a = \"A\"\n"),
            ("ru.toml", "a = \"А\"\nz = \"Я\"\n"),
        ])
        .unwrap_err();
        assert!(
            matches!(&err, CatalogueError::Extra { file, key, .. } if file == "ru.toml" && key == "z"),
            "{err}"
        );
    }

    #[test]
    fn placeholders_must_match_the_english_message() {
        let err = load(&[
            ("en.toml", "w = \"Wait {seconds} s.\"\n"),
            ("ky.toml", "w = \"{secunds} секунд күтүңүз.\"\n"),
        ])
        .unwrap_err();
        assert!(
            matches!(&err, CatalogueError::Placeholders { key, .. } if key == "w"),
            "{err}"
        );
        assert!(
            load(&[
                ("en.toml", "w = \"Wait {seconds} s {of json}.\"\n"),
                ("ky.toml", "w = \"{seconds} секунд күтүңүз.\"\n"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn an_empty_message_or_bad_toml_is_refused() {
        assert!(matches!(
            load(&[("en.toml", "a = \" \"\n")]),
            Err(CatalogueError::Empty { .. })
        ));
        let err = load(&[("en.toml", "a = \"A\"\n"), ("ky.toml", "a = \n")]).unwrap_err();
        assert!(err.to_string().contains("ky.toml"), "{err}");
    }

    #[test]
    fn counted_messages_take_the_form_of_their_number() {
        let ru = |n| counted(Language::Ru, "overdue_by", "days", n);
        assert_eq!(ru(1), "просрочено на 1 день");
        assert_eq!(ru(3), "просрочено на 3 дня");
        assert_eq!(ru(5), "просрочено на 5 дней");
        assert_eq!(ru(11), "просрочено на 11 дней");
        assert_eq!(ru(22), "просрочено на 22 дня");
        assert_eq!(ru(21), "просрочено на 21 день");
        let en = |n| counted(Language::En, "overdue_by", "days", n);
        assert_eq!(en(1), "overdue by 1 day");
        assert_eq!(en(2), "overdue by 2 days");
        assert_eq!(en(21), "overdue by 21 days");
        assert_eq!(
            counted(Language::Ky, "overdue_by", "days", 3),
            "мөөнөтү 3 күн өттү"
        );
        assert_eq!(counted(Language::Fr, "due_in", "days", 1), "1 day left");
        assert_eq!(counted(Language::Ru, "due_in", "days", 2), "осталось 2 дня");
    }

    #[test]
    fn format_fills_placeholders() {
        assert_eq!(
            format(Language::En, "too_many_failures", &[("seconds", "30")]),
            "Too many failed sign-ins from your address. Try again in 30 s."
        );
        assert!(
            format(Language::Ky, "too_many_failures", &[("seconds", "30")]).contains("30 секунд")
        );
    }
}

/// Words that may stand in a Russian or Kyrgyz text although they are English: proper nouns and
/// codes, each for a reason.
pub const ENGLISH_ALLOWED: &[&str] = &[
    // The product's name, in every page's title and every email's subject.
    "accession",
    // Formats and protocols, written so in every language.
    "csv",
    "json",
    "api",
    "ics",
    "utc",
    "ok",
    "cookie",
    // Products named in the calendar hint.
    "outlook",
    "thunderbird",
    // Treaty series and committee codes: "CETS No. 210", "ETS No. 112", "GR-J".
    "cets",
    "ets",
    "no",
    // The token prefix `acc_`.
    "acc",
    // The language switch names each language in itself.
    "english",
];

/// Code that stands in a text in every language (commands to type): taken out before a text is
/// checked for English words.
pub const CODE_SNIPPETS: &[&str] = &[
    "accession audit checkpoint",
    "accession audit verify --checkpoint",
    "accession audit verify",
];

/// The English words of `texts` (letters a–z, lowercased, two or more), minus `ENGLISH_ALLOWED`:
/// the vocabulary a Russian or Kyrgyz text must not use. Placeholders (`{seconds}`) are not words,
/// nor an example address (`name@ministry.kg`: its `kg` is the State's code, not English).
pub fn english_vocabulary<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for text in texts {
        let text = text
            .split_whitespace()
            .filter(|w| !w.contains('@'))
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = String::with_capacity(text.len());
        let mut depth = 0;
        for c in text.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                _ if depth == 0 => rest.push(c),
                _ => {}
            }
        }
        words.extend(latin_words(&rest));
    }
    words.retain(|w| !ENGLISH_ALLOWED.contains(&w.as_str()));
    words
}

/// The English vocabulary of the English catalogue.
pub fn catalogue_vocabulary() -> BTreeSet<String> {
    english_vocabulary(catalogue(Language::En).values().map(String::as_str))
}

/// The runs of Latin letters of `text`, lowercased, two letters or more.
fn latin_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 2)
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The words of `vocabulary` that `text` uses (code snippets taken out first), each once.
pub fn english_words_in(text: &str, vocabulary: &BTreeSet<String>) -> Vec<String> {
    // Addresses and time zone ids (`Europe/Paris`) are codes, not words.
    let mut text: String = text
        .split_whitespace()
        .filter(|w| !w.contains('/'))
        .collect::<Vec<_>>()
        .join(" ");
    for snippet in CODE_SNIPPETS {
        text = text.replace(snippet, " ");
    }
    let mut found: Vec<String> = latin_words(&text)
        .into_iter()
        .filter(|w| vocabulary.contains(w))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The Cyrillic words of `text` not in `allowed` (an English text must have none but the proper
/// names it means to show).
pub fn cyrillic_words_in(text: &str, allowed: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = text
        .split(|c: char| !(('\u{0400}'..='\u{04FF}').contains(&c)))
        .filter(|w| !w.is_empty() && !allowed.contains(w))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The text a person reads on an HTML page: the text between tags and the attributes read out
/// (`aria-label`, `title`, `placeholder`, `alt`), without styles, entities decoded; values marked
/// `translate="no"` (what people typed, ids) left out.
pub fn visible_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Elements whose content is not read, or not translated.
    let mut skip_until: Option<String> = None;
    while let Some(open) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&rest[..open]);
        }
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(end) = &skip_until {
            if tag.starts_with('/') && &name == end {
                skip_until = None;
            }
            continue;
        }
        if tag.starts_with('/') {
            out.push(' ');
            continue;
        }
        if name == "style" || name == "script" || tag.contains("translate=\"no\"") {
            if !tag.ends_with('/') {
                skip_until = Some(name);
            }
            continue;
        }
        for attribute in ["aria-label=\"", "title=\"", "placeholder=\"", "alt=\""] {
            if let Some(start) = tag.find(attribute) {
                let value = &tag[start + attribute.len()..];
                out.push(' ');
                out.push_str(value.split('"').next().unwrap_or_default());
            }
        }
        out.push(' ');
    }
    if skip_until.is_none() {
        out.push_str(rest);
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&nbsp;", " ")
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    #[test]
    fn the_vocabulary_leaves_out_placeholders_and_the_allowed_words() {
        let v = english_vocabulary(["Try again in {seconds} s.", "Export CSV", "Accession"]);
        assert!(v.contains("try") && v.contains("again") && v.contains("export"));
        assert!(!v.contains("seconds") && !v.contains("csv") && !v.contains("accession"));
        assert_eq!(
            english_words_in("Повторите (Try) accession audit checkpoint", &v),
            ["try"]
        );
    }

    #[test]
    fn visible_text_reads_what_a_person_reads() {
        let html = "<html><style>body { color: red }</style><p title=\"Due date\">Срок <b>2024</b>\
                    </p><span translate=\"no\">typed by someone</span><a href=\"/x?a=b\">Далее</a>";
        let text = visible_text(html);
        assert!(text.contains("Due date") && text.contains("Срок") && text.contains("Далее"));
        assert!(!text.contains("color") && !text.contains("typed") && !text.contains("href"));
        assert_eq!(
            cyrillic_words_in("Русский · Кыргызча · Срок", &["Русский", "Кыргызча"]),
            ["Срок"]
        );
    }
}
