//! Email templates: one subject, text and HTML file per kind of email and language, embedded in
//! the binary from `config/templates/` or read from a folder laid out the same way.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::config::MailSettings;
use crate::engine::NotificationKind;
use crate::reference::Language;

/// What an email says, and the context its templates are rendered with. Every text is already
/// in the recipient's language and formatted by the caller; dates print as `YYYY-MM-DD`.
#[derive(Serialize, Clone, Debug)]
pub struct EmailFacts {
    pub kind: NotificationKind,
    pub procedure_id: String,
    /// "Kyrgyz Republic"
    pub state_name: String,
    /// "ETS No. 112"
    pub convention_number: String,
    /// In the recipient's language where known.
    pub convention_title: String,
    pub stage_id: String,
    pub stage_title: String,
    /// What is expected at this stage, from the workflow.
    pub stage_description: String,
    /// The institution the email is addressed to, in its language.
    pub recipient_name: String,
    /// The institutions expected to act ("from whom").
    pub responsible: Vec<String>,
    /// Those whose approval is still missing (approval requests; may be empty).
    pub approvers_missing: Vec<String>,
    pub due_on: Option<NaiveDate>,
    /// The deadline as the caller formats it for the recipient's time zone, printed as given.
    pub deadline_local: Option<String>,
    /// The recipient's time zone, e.g. "Europe/Paris".
    pub time_zone: String,
    /// Days past the due day (deadline passed, escalation).
    pub overdue_days: Option<i64>,
    /// The timer rule that sent the email in words, in the recipient's language, e.g. "7 days
    /// before the deadline" (`crate::locale::rule_in_words`), never its source text.
    pub rule: Option<String>,
    pub entry_into_force: Option<NaiveDate>,
    pub deposited_on: Option<NaiveDate>,
    /// base_url + /procedures/ID
    pub link: String,
}

/// What the email of a signed checkpoint says, and the context its templates are rendered
/// with: the checkpoint's fields, the files attached and the command that checks them.
#[derive(Serialize, Clone, Debug)]
pub struct CheckpointEmail {
    /// The institution the email is addressed to, in its language.
    pub recipient_name: String,
    /// Rows of history the checkpoint signs.
    pub size: u64,
    /// The signed root hash, hex.
    pub root: String,
    /// When it was signed (RFC 3339, UTC).
    pub time: String,
    pub key_id: String,
    /// The public key that checks the signature, hex.
    pub public_key: String,
    /// The name of the attached checkpoint (`checkpoint-<size>.json`).
    pub file: String,
    /// The name of the attached public key (`accession-audit-<key id>.pub`).
    pub public_key_file: String,
    /// The command that checks today's history against the checkpoint.
    pub verify: String,
    /// The checkpoint's JSON, exactly as attached.
    pub json: String,
    /// base_url + /audit
    pub link: String,
}

/// What the email of a one-time sign-in link says: to whom, and the link.
#[derive(Serialize, Clone, Debug)]
pub struct SignInEmail {
    /// The person's name.
    pub recipient_name: String,
    /// Their institution, in its language.
    pub institution_name: String,
    /// The confirmation page's address, with the link's secret.
    pub link: String,
    /// When the link stops working (`YYYY-MM-DD HH:MM UTC`).
    pub expires_at: String,
    /// How long a link works, in minutes.
    pub minutes: i64,
}

impl EmailContext for SignInEmail {
    fn kind(&self) -> NotificationKind {
        NotificationKind::SignInLink
    }
}

/// The context of an email's templates, and the kind that names them.
pub trait EmailContext: Serialize {
    fn kind(&self) -> NotificationKind;
}

impl EmailContext for EmailFacts {
    fn kind(&self) -> NotificationKind {
        self.kind
    }
}

impl EmailContext for CheckpointEmail {
    fn kind(&self) -> NotificationKind {
        NotificationKind::Checkpoint
    }
}

/// One email in one language, ready to be put in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// One line: runs of whitespace, newlines included, are folded to one space.
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Files attached after the text and HTML, in order.
    pub attachments: Vec<Attachment>,
}

/// A file attached to an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub file_name: String,
    /// A MIME type, e.g. `application/json`.
    pub content_type: &'static str,
    pub body: String,
}

/// A template that cannot be read, parsed or rendered; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("email template {file} cannot be read: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("email template {file}{}: {message}", line_suffix(*.line))]
    Invalid {
        file: String,
        line: Option<usize>,
        message: String,
    },
    #[error("email template {file}{} failed to render: {message}", line_suffix(*.line))]
    Render {
        file: String,
        line: Option<usize>,
        message: String,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// The languages templates exist in.
const LANGUAGES: [&str; 3] = ["en", "ru", "ky"];

/// Files shared by every kind of a language, besides the three of each kind.
const SHARED: [&str; 4] = ["base.html", "base.txt", "facts.html", "facts.txt"];

/// The template language mail in `language` is written in.
fn template_language(language: Language) -> &'static str {
    match language {
        Language::En | Language::Fr => "en",
        Language::Ru => "ru",
        Language::Ky => "ky",
    }
}

/// Every template name (`en/reminder.subject.txt`, …) a complete set has.
pub fn expected_files() -> Vec<String> {
    let mut names = Vec::new();
    for lang in LANGUAGES {
        for shared in SHARED {
            names.push(format!("{lang}/{shared}"));
        }
        for kind in NotificationKind::ALL {
            for suffix in ["subject.txt", "txt", "html"] {
                names.push(format!("{lang}/{}.{suffix}", kind.as_str()));
            }
        }
    }
    names
}

macro_rules! language_files {
    ($lang:literal) => {
        language_files!($lang;
            "base.html", "base.txt", "facts.html", "facts.txt",
            "action_needed.subject.txt", "action_needed.txt", "action_needed.html",
            "reminder.subject.txt", "reminder.txt", "reminder.html",
            "deadline.subject.txt", "deadline.txt", "deadline.html",
            "escalation.subject.txt", "escalation.txt", "escalation.html",
            "approval_requested.subject.txt", "approval_requested.txt", "approval_requested.html",
            "procedure_completed.subject.txt", "procedure_completed.txt",
            "procedure_completed.html",
            "entry_into_force.subject.txt", "entry_into_force.txt", "entry_into_force.html",
            "reservation_expiry.subject.txt", "reservation_expiry.txt", "reservation_expiry.html",
            "checkpoint.subject.txt", "checkpoint.txt", "checkpoint.html",
            "sign_in_link.subject.txt", "sign_in_link.txt", "sign_in_link.html"
        )
    };
    ($lang:literal; $($file:literal),+) => {
        [$((
            concat!($lang, "/", $file),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/templates/", $lang, "/", $file)),
        )),+]
    };
}

const EMBEDDED_EN: [(&str, &str); 34] = language_files!("en");
const EMBEDDED_RU: [(&str, &str); 34] = language_files!("ru");
const EMBEDDED_KY: [(&str, &str); 34] = language_files!("ky");

/// Where the templates came from, to name files in errors.
#[derive(Debug, Clone)]
enum Origin {
    Embedded,
    Dir(PathBuf),
}

impl Origin {
    fn file(&self, name: &str) -> String {
        match self {
            Origin::Embedded => format!("config/templates/{name} (embedded)"),
            Origin::Dir(dir) => dir.join(name).display().to_string(),
        }
    }
}

/// The loaded templates of every kind and language.
pub struct Templates {
    env: Environment<'static>,
    origin: Origin,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// The copies of `config/templates/` compiled into the binary.
    pub fn embedded() -> Templates {
        let mut templates = Templates::empty(Origin::Embedded);
        for (name, source) in EMBEDDED_EN
            .into_iter()
            .chain(EMBEDDED_RU)
            .chain(EMBEDDED_KY)
        {
            templates
                .add(name.to_string(), source.to_string())
                .unwrap_or_else(|e| panic!("embedded templates are checked by the tests: {e}"));
        }
        templates
    }

    /// The templates `mail.templates_dir` names, or the embedded ones when it is not set.
    pub fn from_settings(settings: &MailSettings) -> Result<Templates, TemplateError> {
        match &settings.templates_dir {
            Some(dir) => Templates::from_dir(dir),
            None => Ok(Templates::embedded()),
        }
    }

    /// Every expected file read from `dir`, parsed, and tried on sample facts of every kind, so
    /// a missing or broken template is found at start and not when a deadline falls.
    pub fn from_dir(dir: &Path) -> Result<Templates, TemplateError> {
        let mut templates = Templates::empty(Origin::Dir(dir.to_path_buf()));
        for name in expected_files() {
            let path = dir.join(&name);
            let source =
                std::fs::read_to_string(&path).map_err(|source| TemplateError::Unreadable {
                    file: path.display().to_string(),
                    source,
                })?;
            templates.add(name, source)?;
        }
        templates.check()?;
        Ok(templates)
    }

    /// The subject, text and HTML of the email `facts` describe, in the template language of
    /// `language`; no attachment (the caller adds any).
    pub fn render(
        &self,
        language: Language,
        facts: &impl EmailContext,
    ) -> Result<RenderedEmail, TemplateError> {
        let lang = template_language(language);
        let kind = facts.kind().as_str();
        let context = Value::from(Serde(facts));
        let subject = self.render_file(&format!("{lang}/{kind}.subject.txt"), &context)?;
        Ok(RenderedEmail {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: self.render_file(&format!("{lang}/{kind}.txt"), &context)?,
            html: self.render_file(&format!("{lang}/{kind}.html"), &context)?,
            attachments: Vec::new(),
        })
    }

    fn empty(origin: Origin) -> Templates {
        let mut env = Environment::new();
        // HTML is escaped, text and subjects are not: a `<` in a title stays a `<` in the text.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // The crate's one escaper, which leaves `/` alone (see `crate::html::escape`).
        env.set_formatter(crate::html::formatter);
        // A misspelt variable is an error, not an empty space in an official letter.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Block tags on lines of their own leave no blank lines in the text emails.
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.add_filter("plural_ru", plural_ru);
        env.add_filter("plural_en", plural_en);
        env.add_filter("the", the);
        Templates { env, origin }
    }

    fn add(&mut self, name: String, source: String) -> Result<(), TemplateError> {
        let file = self.origin.file(&name);
        self.env
            .add_template_owned(name, source)
            .map_err(|e| TemplateError::Invalid {
                file,
                line: e.line(),
                message: describe(&e),
            })
    }

    fn render_file(&self, name: &str, context: &Value) -> Result<String, TemplateError> {
        let error = |e: minijinja::Error| TemplateError::Render {
            // The error may be in a template this one extends or imports.
            file: self.origin.file(e.name().unwrap_or(name)),
            line: e.line(),
            message: describe(&e),
        };
        let template = self.env.get_template(name).map_err(error)?;
        template.render(context).map_err(error)
    }

    /// Render every kind in every language, once with every optional fact present and once with
    /// none, so a template that only breaks at render time is found now.
    fn check(&self) -> Result<(), TemplateError> {
        for lang in crate::locale::LANGUAGES {
            for kind in NotificationKind::ALL {
                if kind.is_about_a_procedure() {
                    self.render(lang, &sample_facts(kind, true))?;
                    self.render(lang, &sample_facts(kind, false))?;
                } else if kind == NotificationKind::SignInLink {
                    self.render(lang, &sample_sign_in())?;
                } else {
                    self.render(lang, &sample_checkpoint())?;
                }
            }
        }
        Ok(())
    }
}

fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// Facts with plausible values, to try templates on.
fn sample_facts(kind: NotificationKind, full: bool) -> EmailFacts {
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
    EmailFacts {
        kind,
        procedure_id: "sample".into(),
        state_name: "State".into(),
        convention_number: "ETS No. 1".into(),
        convention_title: "Convention".into(),
        stage_id: "stage".into(),
        stage_title: "Stage".into(),
        stage_description: "What is expected.".into(),
        recipient_name: "Institution".into(),
        responsible: if full {
            vec!["Institution".into()]
        } else {
            vec![]
        },
        approvers_missing: if full {
            vec!["Approver".into()]
        } else {
            vec![]
        },
        due_on: full.then(|| date(2024, 5, 1)).flatten(),
        deadline_local: full.then(|| "2024-05-01 24:00 (Asia/Bishkek)".into()),
        time_zone: "Asia/Bishkek".into(),
        overdue_days: full.then_some(3),
        rule: full.then(|| "7 days after the deadline".into()),
        entry_into_force: full.then(|| date(2024, 8, 1)).flatten(),
        deposited_on: full.then(|| date(2024, 4, 22)).flatten(),
        link: "http://localhost/procedures/sample".into(),
    }
}

/// A sign-in link's email with plausible values, to try templates on.
fn sample_sign_in() -> SignInEmail {
    SignInEmail {
        recipient_name: "Person".into(),
        institution_name: "Institution".into(),
        link: format!("http://localhost/sign-in/link?key={}", "0".repeat(64)),
        expires_at: "2026-12-05 10:15 UTC".into(),
        minutes: 15,
    }
}

/// A checkpoint's email with plausible values, to try templates on.
fn sample_checkpoint() -> CheckpointEmail {
    CheckpointEmail {
        recipient_name: "Institution".into(),
        size: 12,
        root: "0".repeat(64),
        time: "2026-12-04T06:00:00Z".into(),
        key_id: "0123456789abcdef".into(),
        public_key: "1".repeat(64),
        file: "checkpoint-12.json".into(),
        public_key_file: "accession-audit-0123456789abcdef.pub".into(),
        verify: "accession audit verify --checkpoint checkpoint-12.json --public-key \
                 accession-audit-0123456789abcdef.pub"
            .into(),
        json: "{}".into(),
        link: "http://localhost/audit".into(),
    }
}

/// `{{ n | plural_ru("день", "дня", "дней") }}`: the Russian form for `n` (1 день, 3 дня, 5 дней,
/// 11 дней, 21 день).
fn plural_ru(n: i64, one: String, few: String, many: String) -> String {
    let (n10, n100) = (n.abs() % 10, n.abs() % 100);
    if n10 == 1 && n100 != 11 {
        one
    } else if (2..=4).contains(&n10) && !(12..=14).contains(&n100) {
        few
    } else {
        many
    }
}

/// `{{ state_name | the }}`: an English State name as a sentence needs it ("the Kyrgyz
/// Republic", "the Netherlands", but "France").
fn the(name: String) -> String {
    crate::reference::with_article(&name)
}

/// `{{ n | plural_en("day", "days") }}`
fn plural_en(n: i64, one: String, other: String) -> String {
    if n.abs() == 1 { one } else { other }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: NotificationKind) -> EmailFacts {
        EmailFacts {
            kind,
            procedure_id: "kg-ets-112".into(),
            state_name: "Kyrgyz Republic".into(),
            convention_number: "ETS No. 112".into(),
            convention_title: "Convention on the Transfer of Sentenced Persons".into(),
            stage_id: "parliament".into(),
            stage_title: "Parliament".into(),
            stage_description: "Adopt the law on accession.".into(),
            recipient_name: "Ministry of Justice".into(),
            responsible: vec!["Jogorku Kenesh".into(), "Ministry of Justice".into()],
            approvers_missing: vec!["Ministry of Finance".into()],
            due_on: NaiveDate::from_ymd_opt(2024, 5, 1),
            deadline_local: Some(
                "2024-05-01 24:00 (Asia/Bishkek) = 2024-05-01 20:00 Europe/Paris".into(),
            ),
            time_zone: "Europe/Paris".into(),
            overdue_days: Some(12),
            rule: Some("7 days before the deadline".into()),
            entry_into_force: NaiveDate::from_ymd_opt(2024, 8, 1),
            deposited_on: NaiveDate::from_ymd_opt(2024, 4, 22),
            link: "http://127.0.0.1:8080/procedures/kg-ets-112".into(),
        }
    }

    /// The kinds of email about a procedure, rendered from `EmailFacts`.
    fn procedure_kinds() -> impl Iterator<Item = NotificationKind> {
        NotificationKind::ALL
            .into_iter()
            .filter(|k| k.is_about_a_procedure())
    }

    fn checkpoint() -> CheckpointEmail {
        CheckpointEmail {
            recipient_name: "Office of the Ombudsperson".into(),
            size: 42,
            root: "ab".repeat(32),
            time: "2026-12-04T06:00:00Z".into(),
            key_id: "fedcba9876543210".into(),
            public_key: "cd".repeat(32),
            file: "checkpoint-42.json".into(),
            public_key_file: "accession-audit-fedcba9876543210.pub".into(),
            verify: "accession audit verify --checkpoint checkpoint-42.json --public-key \
                     accession-audit-fedcba9876543210.pub"
                .into(),
            json: "{\n  \"size\": 42\n}".into(),
            link: "http://127.0.0.1:8080/audit".into(),
        }
    }

    #[test]
    fn a_checkpoint_email_says_what_was_signed_and_how_to_check_it_in_both_languages() {
        let templates = Templates::embedded();
        let cp = checkpoint();
        for language in crate::locale::LANGUAGES {
            let email = templates.render(language, &cp).unwrap();
            let what = format!("checkpoint in {language}");
            assert!(email.subject.contains("42"), "{what}: {}", email.subject);
            assert!(!email.subject.contains('\n'), "{what}");
            for body in [&email.text, &email.html] {
                for needle in [
                    "42",
                    &cp.root,
                    "2026-12-04T06:00:00Z",
                    "fedcba9876543210",
                    &cp.public_key,
                    "checkpoint-42.json",
                    "accession-audit-fedcba9876543210.pub",
                    "http://127.0.0.1:8080/audit",
                    "Office of the Ombudsperson",
                ] {
                    assert!(body.contains(needle), "{what} lacks {needle}:\n{body}");
                }
            }
            // The command whole, in the text: it is copied from there.
            assert!(email.text.contains(&cp.verify), "{what}:\n{}", email.text);
            assert!(
                email
                    .html
                    .contains("accession audit verify --checkpoint checkpoint-42.json")
            );
            // And the JSON itself, for a reader whose mail drops attachments.
            assert!(email.text.contains(&cp.json), "{what}:\n{}", email.text);
            assert!(
                email.html.contains("&quot;size&quot;: 42") || email.html.contains("\"size\": 42"),
                "{what}:\n{}",
                email.html
            );
            assert!(
                email.attachments.is_empty(),
                "the caller attaches the files"
            );
            if language == Language::Ru {
                assert!(email.subject.chars().any(is_cyrillic), "{what}");
                assert!(email.text.contains("Уважаемые коллеги"), "{what}");
            }
            assert!(
                email.html.contains(&format!("lang=\"{language}\"")),
                "{what}"
            );
            for banned in ["<img", "<script", "<link", "src=", "url("] {
                assert!(!email.html.contains(banned), "{what}: {banned}");
            }
        }
    }

    #[test]
    fn a_checkpoint_email_escapes_in_html_only() {
        let mut cp = checkpoint();
        cp.recipient_name = "<b>Ombudsperson</b>".into();
        let email = Templates::embedded().render(Language::En, &cp).unwrap();
        assert!(!email.html.contains("<b>Ombudsperson"), "{}", email.html);
        assert!(email.text.contains("<b>Ombudsperson</b>"), "{}", email.text);
    }

    fn is_cyrillic(c: char) -> bool {
        ('\u{0400}'..='\u{04FF}').contains(&c)
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            NotificationKind::parse("deadline"),
            Some(NotificationKind::DeadlinePassed)
        );
        assert_eq!(NotificationKind::parse("deadline_passed"), None);
    }

    #[test]
    fn every_kind_renders_in_english_and_russian_with_the_essential_facts() {
        let templates = Templates::embedded();
        for language in crate::locale::LANGUAGES {
            for kind in procedure_kinds() {
                let facts = facts(kind);
                let email = templates.render(language, &facts).unwrap();
                let what = format!("{kind} in {language}");
                assert!(
                    email.subject.contains("ETS No. 112"),
                    "{what}: {}",
                    email.subject
                );
                assert!(!email.subject.contains('\n'), "{what}");
                for body in [&email.text, &email.html] {
                    for needle in [
                        "ETS No. 112",
                        "Kyrgyz Republic",
                        "Parliament",
                        "2024-05-01",
                        "http://127.0.0.1:8080/procedures/kg-ets-112",
                    ] {
                        assert!(body.contains(needle), "{what} lacks {needle}:\n{body}");
                    }
                }
                if language == Language::Ru {
                    assert!(email.subject.chars().any(is_cyrillic), "{what}");
                    assert!(email.text.contains("Уважаемые коллеги"), "{what}");
                }
                assert!(
                    email.html.contains(&format!("lang=\"{language}\"")),
                    "{what}"
                );
            }
        }
    }

    #[test]
    fn every_kind_renders_without_any_optional_fact() {
        let templates = Templates::embedded();
        for language in crate::locale::LANGUAGES {
            for kind in procedure_kinds() {
                let email = templates
                    .render(language, &sample_facts(kind, false))
                    .unwrap();
                assert!(!email.text.contains("None"), "{kind}: {}", email.text);
                assert!(!email.text.contains("none"), "{kind}: {}", email.text);
            }
        }
    }

    #[test]
    fn emails_say_what_makes_their_kind() {
        let templates = Templates::embedded();
        let text = |language, kind| templates.render(language, &facts(kind)).unwrap().text;
        let reminder = text(Language::En, NotificationKind::Reminder);
        assert!(
            reminder.contains("This reminder is sent 7 days before the deadline."),
            "{reminder}"
        );
        let deadline = text(Language::En, NotificationKind::DeadlinePassed);
        assert!(deadline.contains("12 days"), "{deadline}");
        let escalation = text(Language::En, NotificationKind::Escalation);
        assert!(escalation.contains("escalation"), "{escalation}");
        assert!(escalation.contains("Ministry of Justice"), "{escalation}");
        let in_force = text(Language::En, NotificationKind::EntryIntoForce);
        assert!(in_force.contains("2024-08-01"), "{in_force}");
        assert!(in_force.contains("2024-04-22"), "{in_force}");
        let approval = text(Language::En, NotificationKind::ApprovalRequested);
        assert!(approval.contains("Ministry of Finance"), "{approval}");
        let deadline_ru = text(Language::Ru, NotificationKind::DeadlinePassed);
        assert!(deadline_ru.contains("12 дней"), "{deadline_ru}");
        let escalation_ru = text(Language::Ru, NotificationKind::Escalation);
        assert!(escalation_ru.contains("эскалац"), "{escalation_ru}");
    }

    #[test]
    fn the_deadline_in_the_recipients_time_zone_is_printed_as_given() {
        let email = Templates::embedded()
            .render(Language::En, &facts(NotificationKind::ActionNeeded))
            .unwrap();
        let local = "2024-05-01 24:00 (Asia/Bishkek) = 2024-05-01 20:00 Europe/Paris";
        assert!(email.text.contains(local), "{}", email.text);
        assert!(email.html.contains(local), "{}", email.html);
    }

    #[test]
    fn kyrgyz_recipients_get_kyrgyz_and_french_recipients_english() {
        let templates = Templates::embedded();
        let facts = facts(NotificationKind::Reminder);
        let render = |language| templates.render(language, &facts).unwrap();
        assert_ne!(render(Language::Ky).text, render(Language::Ru).text);
        assert!(render(Language::Ky).text.contains("Урматтуу кесиптештер"));
        assert_eq!(render(Language::Fr).text, render(Language::En).text);
        assert_ne!(render(Language::Ru).text, render(Language::En).text);
    }

    #[test]
    fn html_escapes_markup_in_facts_while_text_keeps_it_literally() {
        let mut facts = facts(NotificationKind::ActionNeeded);
        facts.stage_title = "<script>alert(1)</script>".into();
        let email = Templates::embedded().render(Language::En, &facts).unwrap();
        assert!(!email.html.contains("<script>"), "{}", email.html);
        assert!(email.html.contains("&lt;script&gt;"), "{}", email.html);
        assert!(
            email.text.contains("<script>alert(1)</script>"),
            "{}",
            email.text
        );
        assert!(email.subject.contains("<script>"), "{}", email.subject);
    }

    #[test]
    fn html_has_no_external_resources_or_images() {
        let templates = Templates::embedded();
        for language in crate::locale::LANGUAGES {
            for kind in procedure_kinds() {
                let html = templates.render(language, &facts(kind)).unwrap().html;
                for banned in ["<img", "<script", "<link", "src=", "url("] {
                    assert!(!html.contains(banned), "{kind} {language}: {banned}");
                }
            }
        }
    }

    #[test]
    fn russian_plurals_follow_the_number() {
        let p = |n| plural_ru(n, "день".into(), "дня".into(), "дней".into());
        let got: Vec<_> = [1, 2, 5, 11, 12, 21, 22, 25, 101, 111].map(p).into();
        assert_eq!(
            got,
            [
                "день", "дня", "дней", "дней", "дней", "день", "дня", "дней", "день", "дней"
            ]
        );
    }

    #[test]
    fn the_folder_in_the_repository_renders_as_the_embedded_copies() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        let from_dir = Templates::from_dir(&dir).unwrap();
        let embedded = Templates::embedded();
        for language in crate::locale::LANGUAGES {
            for kind in procedure_kinds() {
                let facts = facts(kind);
                assert_eq!(
                    from_dir.render(language, &facts).unwrap(),
                    embedded.render(language, &facts).unwrap()
                );
            }
            assert_eq!(
                from_dir.render(language, &checkpoint()).unwrap(),
                embedded.render(language, &checkpoint()).unwrap()
            );
        }
    }

    fn copy_of_repository_templates() -> tempfile::TempDir {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        let dir = tempfile::tempdir().unwrap();
        for name in expected_files() {
            let to = dir.path().join(&name);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(source.join(&name), to).unwrap();
        }
        dir
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = copy_of_repository_templates();
        std::fs::remove_file(dir.path().join("ru/escalation.html")).unwrap();
        let err = Templates::from_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("ru/escalation.html"), "{err}");
    }

    #[test]
    fn a_syntax_error_is_named_with_its_line() {
        let dir = copy_of_repository_templates();
        std::fs::write(
            dir.path().join("en/reminder.txt"),
            "Dear colleagues,\n\n{% if due_on %}\nno end\n",
        )
        .unwrap();
        let err = Templates::from_dir(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("en/reminder.txt"), "{text}");
        assert!(
            matches!(err, TemplateError::Invalid { line: Some(_), .. }),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_variable_is_found_when_loading() {
        let dir = copy_of_repository_templates();
        std::fs::write(
            dir.path().join("ru/deadline.subject.txt"),
            "Срок: {{ convention_numbr }}",
        )
        .unwrap();
        let err = Templates::from_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("ru/deadline.subject.txt:1"), "{err}");
    }

    /// The English texts of the shipped workflows (`title.en`, `description.en`, plain strings).
    fn workflow_english() -> Vec<String> {
        fn walk(value: &toml::Value, out: &mut Vec<String>) {
            match value {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        match (k.as_str(), v) {
                            ("title" | "description", toml::Value::String(s)) => {
                                out.push(s.clone())
                            }
                            ("title" | "description", toml::Value::Table(langs)) => {
                                if let Some(toml::Value::String(en)) = langs.get("en") {
                                    out.push(en.clone());
                                }
                            }
                            _ => walk(v, out),
                        }
                    }
                }
                toml::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for source in [
            include_str!("../../workflows/coe-accession.toml"),
            include_str!("../../workflows/coe-ratification.toml"),
            include_str!("../../workflows/four-stage.toml"),
        ] {
            walk(&toml::from_str(source).unwrap(), &mut out);
        }
        out
    }

    /// The literal words of the English templates (what is outside `{{ }}` and `{% %}`).
    fn english_template_words() -> Vec<String> {
        EMBEDDED_EN
            .iter()
            .map(|(_, source)| {
                let mut text = String::new();
                let mut rest = *source;
                while let Some(start) = rest.find(['{', '<']) {
                    text.push_str(&rest[..start]);
                    let close = if rest[start..].starts_with('<') {
                        ">"
                    } else {
                        "}"
                    };
                    let Some(end) = rest[start..].find(close) else {
                        break;
                    };
                    rest = &rest[start + end + 1..];
                    text.push(' ');
                }
                text.push_str(rest);
                text
            })
            .collect()
    }

    /// Facts as the dispatcher gives them to a reader of `language`: every text in it.
    fn facts_in(kind: NotificationKind, language: Language) -> EmailFacts {
        let mut f = facts(kind);
        let words = crate::locale::rule_in_words;
        match language {
            Language::Ru => {
                f.state_name = "Кыргызская Республика".into();
                f.convention_title = "Конвенция о передаче осужденных лиц".into();
                f.stage_title = "Закон о присоединении в Жогорку Кенеше".into();
                f.stage_description = "Три чтения и профильный комитет.".into();
                f.recipient_name = "Министерство юстиции Кыргызской Республики".into();
                f.responsible = vec!["Жогорку Кенеш Кыргызской Республики".into()];
                f.approvers_missing = vec!["Министерство финансов".into()];
            }
            Language::Ky => {
                f.state_name = "Кыргыз Республикасы".into();
                f.convention_title = "Соттолгон адамдарды өткөрүп берүү жөнүндө конвенция".into();
                f.stage_title = "Жогорку Кеңеште кошулуу жөнүндө мыйзам".into();
                f.stage_description = "Үч окуу жана тармактык комитет.".into();
                f.recipient_name = "Кыргыз Республикасынын Адилет министрлиги".into();
                f.responsible = vec!["Кыргыз Республикасынын Жогорку Кеңеши".into()];
                f.approvers_missing = vec!["Финансы министрлиги".into()];
            }
            _ => {}
        }
        f.rule = Some(words(
            match kind {
                NotificationKind::Reminder => "cron 0 9 * * 1",
                _ => "after_due 7 days",
            },
            language,
        ));
        f
    }

    /// Every kind of email in Russian and Kyrgyz uses no word of the English catalogue, the
    /// English templates or the English workflow texts (but the reasoned exceptions of
    /// `locale::ENGLISH_ALLOWED`), and the English mail has no Cyrillic.
    #[test]
    fn russian_and_kyrgyz_mail_has_no_english_word_and_english_mail_no_cyrillic() {
        let mut sources: Vec<String> = crate::locale::catalogue(Language::En)
            .values()
            .cloned()
            .collect();
        sources.extend(workflow_english());
        sources.extend(english_template_words());
        let vocabulary = crate::locale::english_vocabulary(sources.iter().map(String::as_str));
        assert!(vocabulary.contains("reminder") && vocabulary.contains("deadline"));
        let templates = Templates::embedded();
        let cp = checkpoint();
        for language in [Language::En, Language::Ru, Language::Ky] {
            let mut emails: Vec<(String, RenderedEmail)> = procedure_kinds()
                .map(|k| {
                    (
                        k.to_string(),
                        templates.render(language, &facts_in(k, language)).unwrap(),
                    )
                })
                .collect();
            let mut cp = cp.clone();
            cp.recipient_name = match language {
                Language::Ru => "Акыйкатчы (Омбудсмен) Кыргызской Республики".into(),
                Language::Ky => "Кыргыз Республикасынын Акыйкатчысы (Омбудсмени)".into(),
                _ => cp.recipient_name,
            };
            emails.push((
                "checkpoint".into(),
                templates.render(language, &cp).unwrap(),
            ));
            for (kind, email) in emails {
                let html = crate::locale::visible_text(&email.html);
                for (part, text) in [
                    ("subject", &email.subject),
                    ("text", &email.text),
                    ("html", &html),
                ] {
                    // The command and the file names are code.
                    let text = text
                        .replace(&cp.verify, " ")
                        .replace(&cp.file, " ")
                        .replace(&cp.public_key_file, " ")
                        .replace(&cp.json, " ");
                    if language == Language::En {
                        let cyrillic = crate::locale::cyrillic_words_in(&text, &[]);
                        assert!(
                            cyrillic.is_empty(),
                            "{kind} en {part}: {cyrillic:?}\n{text}"
                        );
                    } else {
                        let english = crate::locale::english_words_in(&text, &vocabulary);
                        assert!(
                            english.is_empty(),
                            "{kind} {language} {part}: {english:?}\n{text}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn kyrgyz_mail_is_kyrgyz_with_the_rule_in_words() {
        let templates = Templates::embedded();
        let email = templates
            .render(
                Language::Ky,
                &facts_in(NotificationKind::Reminder, Language::Ky),
            )
            .unwrap();
        assert!(
            email.text.starts_with("Урматтуу кесиптештер!"),
            "{}",
            email.text
        );
        assert!(
            email.text.contains("ар дүйшөмбү күнү, саат 09:00"),
            "{}",
            email.text
        );
        assert!(
            email.text.contains("Эмне талап кылынат: Үч окуу"),
            "{}",
            email.text
        );
        assert!(
            email.subject.starts_with("[Accession] Эскертме:"),
            "{}",
            email.subject
        );
        assert!(email.html.contains("lang=\"ky\""));
        let deadline = templates
            .render(
                Language::Ru,
                &facts_in(NotificationKind::DeadlinePassed, Language::Ru),
            )
            .unwrap();
        assert!(
            deadline
                .text
                .contains("Уведомление направляется через 7 дней после срока."),
            "{}",
            deadline.text
        );
    }

    #[test]
    fn english_mail_names_the_state_with_its_article() {
        let email = Templates::embedded()
            .render(Language::En, &facts(NotificationKind::ActionNeeded))
            .unwrap();
        assert!(
            email
                .text
                .contains("The accession of the Kyrgyz Republic to ETS No. 112"),
            "{}",
            email.text
        );
        // Where it stands alone, as a value, it has none.
        assert!(
            email.text.contains("State:       Kyrgyz Republic"),
            "{}",
            email.text
        );
    }
}
