//! Text written into HTML or XML markup — pages, emails, SVG pictures — escaped by one function,
//! so every front-end turns the same characters into the same entities. Pure.

use std::borrow::Cow;

use minijinja::{AutoEscape, Error, Output, State, Value, value::ValueKind};

/// `text` made safe as element content or as a quoted attribute value, in HTML and in XML alike:
/// `& < > " '` become `&amp; &lt; &gt; &quot; &#39;`. Characters XML 1.0 forbids (the control
/// characters other than tab and line breaks, U+FFFE and U+FFFF) become U+FFFD, so one stray byte
/// in a title cannot make an SVG picture invalid or hide itself on a page. `/` is left alone:
/// it is harmless in text and quoted attributes, and escaping it garbles addresses and time zones
/// (`Europe&#x2f;Paris`) for anyone reading the source of an email. Text with nothing to change is
/// returned as it is, without a copy.
pub fn escape(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(needs_escape) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if forbidden_in_xml(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    matches!(c, '&' | '<' | '>' | '"' | '\'') || forbidden_in_xml(c)
}

/// XML 1.0's `Char` production leaves out C0 controls but tab, LF and CR, and U+FFFE, U+FFFF
/// (surrogates cannot occur in a `str`).
fn forbidden_in_xml(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
}

/// The minijinja formatter for every environment of the crate: values printed into an
/// auto-escaped (HTML) template go through [`escape`]; values marked safe, numbers, booleans,
/// `none` and text templates print as minijinja prints them.
pub fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let plain = matches!(
        value.kind(),
        ValueKind::Undefined | ValueKind::None | ValueKind::Bool | ValueKind::Number
    );
    if *state.auto_escape() == AutoEscape::Html && !value.is_safe() && !plain {
        let escaped = match value.as_str() {
            Some(text) => escape(text).into_owned(),
            None => escape(&value.to_string()).into_owned(),
        };
        return out.write_str(&escaped).map_err(Error::from);
    }
    minijinja::escape_formatter(out, state, value)
}

#[cfg(test)]
mod tests {
    use minijinja::Environment;

    use super::*;

    #[test]
    fn the_five_markup_characters_become_entities() {
        assert_eq!(
            escape(r#"a & b < c > d "e" 'f'"#),
            "a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39;"
        );
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "escaping twice shows the entity"
        );
    }

    #[test]
    fn text_without_any_is_returned_unchanged_and_uncopied() {
        for text in [
            "",
            "Europe/Paris",
            "Жогорку Кенеш — сроки",
            "line\nbreak\ttab\r",
        ] {
            let escaped = escape(text);
            assert!(matches!(escaped, Cow::Borrowed(_)), "{text:?} was copied");
            assert_eq!(escaped, text);
        }
    }

    #[test]
    fn characters_xml_forbids_become_the_replacement_character() {
        assert_eq!(escape("a\u{1}b\u{1b}c\u{0}"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}");
        assert_eq!(escape("\u{FFFE}\u{FFFF}"), "\u{FFFD}\u{FFFD}");
        // Allowed in XML 1.0, so kept: DEL and the C1 controls (text.rs refuses them on input).
        assert_eq!(escape("\u{7f}\u{85}"), "\u{7f}\u{85}");
    }

    #[test]
    fn escaping_starts_after_a_clean_prefix_without_losing_it() {
        assert_eq!(escape("Жогорку <Кенеш>"), "Жогорку &lt;Кенеш&gt;");
    }

    fn env() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(formatter);
        env.add_template(
            "page.html",
            "{{ text }}|{{ safe|safe }}|{{ n }}|{{ list }}|{{ nothing }}",
        )
        .unwrap();
        env.add_template("mail.txt", "{{ text }}").unwrap();
        env
    }

    #[test]
    fn templates_escape_with_the_one_escaper_and_only_in_html() {
        let env = env();
        let context = minijinja::context! {
            text => "<a href='/x'>Tom & \"Jerry\"</a>\u{1}",
            safe => Value::from_safe_string("<b>kept</b>".into()),
            n => 42,
            list => vec!["a<b"],
            nothing => Value::from(()),
        };
        assert_eq!(
            env.get_template("page.html")
                .unwrap()
                .render(&context)
                .unwrap(),
            "&lt;a href=&#39;/x&#39;&gt;Tom &amp; &quot;Jerry&quot;&lt;/a&gt;\u{FFFD}\
             |<b>kept</b>|42|[&#39;a&lt;b&#39;]|None"
        );
        assert_eq!(
            env.get_template("mail.txt")
                .unwrap()
                .render(&context)
                .unwrap(),
            "<a href='/x'>Tom & \"Jerry\"</a>\u{1}"
        );
    }
}
