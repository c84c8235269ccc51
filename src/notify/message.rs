//! The MIME message of a rendered email: text and HTML alternatives (and the files attached, if
//! any), a Message-ID and Date given by the caller (so a resend is the same message), and
//! headers that mark it as automatic.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use super::templates::RenderedEmail;
use crate::engine::NotificationKind;

/// What the headers of an email say about where it comes from in Accession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHeaders {
    /// The procedure the email is about (`X-Accession-Procedure`); none for a checkpoint's.
    pub procedure_id: Option<String>,
    pub kind: NotificationKind,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("an email needs at least one recipient")]
    NoRecipient,
    #[error("`{0}` is not a Message-ID: write it as <unique-part@domain>, without spaces")]
    BadMessageId(String),
    #[error(
        "the attachment {file} has the content type `{content_type}`, which is not a MIME type"
    )]
    BadContentType { file: String, content_type: String },
    #[error("the email cannot be built: {0}")]
    Build(#[from] lettre::error::Error),
}

const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
const PROCEDURE: HeaderName = HeaderName::new_from_ascii_str("X-Accession-Procedure");
const KIND: HeaderName = HeaderName::new_from_ascii_str("X-Accession-Kind");

/// The message `rendered` makes from `from` to `to`. Nothing here reads the clock or makes up
/// an id: the same arguments give the same headers.
pub fn build_message(
    from: &Mailbox,
    to: &[Mailbox],
    message_id: &str,
    date: DateTime<Utc>,
    rendered: &RenderedEmail,
    headers: &ExtraHeaders,
) -> Result<Message, MessageError> {
    if to.is_empty() {
        return Err(MessageError::NoRecipient);
    }
    if !is_message_id(message_id) {
        return Err(MessageError::BadMessageId(message_id.to_string()));
    }
    let mut builder = Message::builder()
        .from(from.clone())
        .message_id(Some(message_id.to_string()))
        .date(SystemTime::from(date))
        .subject(rendered.subject.clone())
        // RFC 3834: tells vacation responders and the like not to answer.
        .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()))
        .raw_header(HeaderValue::new(KIND, headers.kind.as_str().into()));
    if let Some(procedure) = &headers.procedure_id {
        builder = builder.raw_header(HeaderValue::new(PROCEDURE, procedure.clone()));
    }
    for recipient in to {
        builder = builder.to(recipient.clone());
    }
    let body = MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone());
    if rendered.attachments.is_empty() {
        return Ok(builder.multipart(body)?);
    }
    // The letter first, then the files (RFC 2046 multipart/mixed).
    let mut mixed = MultiPart::mixed().multipart(body);
    for file in &rendered.attachments {
        let content_type =
            ContentType::parse(file.content_type).map_err(|_| MessageError::BadContentType {
                file: file.file_name.clone(),
                content_type: file.content_type.to_string(),
            })?;
        mixed = mixed.singlepart(
            lettre::message::Attachment::new(file.file_name.clone())
                .body(file.body.clone(), content_type),
        );
    }
    Ok(builder.multipart(mixed)?)
}

/// `<local@domain>` with printable ASCII and no spaces, as RFC 5322 wants it.
fn is_message_id(id: &str) -> bool {
    let Some(inner) = id.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return false;
    };
    match inner.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>'))
        }
        None => false,
    }
}

/// The domain of the `from` address (`Accession <accession@example.org>` gives `example.org`),
/// for the right-hand side of Message-IDs; `localhost` when there is none.
pub fn message_id_domain(from: &str) -> String {
    if let Ok(mailbox) = from.parse::<Mailbox>() {
        return mailbox.email.domain().to_ascii_lowercase();
    }
    from.rsplit_once('@')
        .map(|(_, domain)| domain.trim().trim_end_matches('>').trim())
        .filter(|domain| !domain.is_empty() && domain.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| "localhost".to_string(), str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rendered() -> RenderedEmail {
        RenderedEmail {
            subject: "[Accession] Напоминание: ETS No. 112 — Парламент, срок 2024-05-01".into(),
            text: "Уважаемые коллеги!\n\nНапоминаем о сроке.\n".into(),
            html: "<!DOCTYPE html><html lang=\"ru\"><body><p>Уважаемые коллеги!</p></body></html>"
                .into(),
            attachments: Vec::new(),
        }
    }

    fn build(message_id: &str) -> Result<Message, MessageError> {
        let from: Mailbox = "Accession <accession@example.org>".parse().unwrap();
        let to: Vec<Mailbox> = vec![
            "Ministry of Justice <moj@gov.example>".parse().unwrap(),
            "registry@gov.example".parse().unwrap(),
        ];
        let date = Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).unwrap();
        let headers = ExtraHeaders {
            procedure_id: Some("kg-ets-112".into()),
            kind: NotificationKind::Reminder,
        };
        build_message(&from, &to, message_id, date, &rendered(), &headers)
    }

    #[test]
    fn the_message_carries_the_given_id_date_and_automatic_headers() {
        let message = build("<outbox-42.1@example.org>").unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <outbox-42.1@example.org>\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("Date: Wed, 01 May 2024 09:30:00 +0000\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Auto-Submitted: auto-generated\r\n"), "{raw}");
        assert!(
            raw.contains("X-Accession-Procedure: kg-ets-112\r\n"),
            "{raw}"
        );
        assert!(raw.contains("X-Accession-Kind: reminder\r\n"), "{raw}");
        assert!(
            raw.contains("From: Accession <accession@example.org>\r\n"),
            "{raw}"
        );
    }

    #[test]
    fn the_message_has_a_text_and_an_html_alternative() {
        let raw = String::from_utf8(build("<a@b>").unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Content-Type: multipart/alternative;"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/html; charset=utf-8"),
            "{raw}"
        );
        let text = raw.find("text/plain").unwrap();
        let html = raw.find("text/html").unwrap();
        assert!(text < html, "the preferred (HTML) alternative comes last");
    }

    #[test]
    fn a_cyrillic_subject_is_encoded_and_decodes_back() {
        let raw = String::from_utf8(build("<a@b>").unwrap().formatted()).unwrap();
        let subject = raw
            .split("\r\n")
            .skip_while(|l| !l.starts_with("Subject:"))
            .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
            .collect::<String>();
        assert!(subject.is_ascii(), "{subject}");
        assert!(subject.contains("=?utf-8?b?"), "{subject}");
        // RFC 2047: words are encoded only where needed; the space between two adjacent
        // encoded words is not part of the text.
        let mut decoded = String::new();
        let mut previous_encoded = false;
        for word in subject.trim_start_matches("Subject:").split_whitespace() {
            let encoded = word
                .strip_prefix("=?utf-8?b?")
                .and_then(|w| w.strip_suffix("?="));
            let joined_to_previous = previous_encoded && encoded.is_some();
            if !decoded.is_empty() && !joined_to_previous {
                decoded.push(' ');
            }
            match encoded {
                Some(b64) => decoded.push_str(&String::from_utf8(decode_base64(b64)).unwrap()),
                None => decoded.push_str(word),
            }
            previous_encoded = encoded.is_some();
        }
        assert_eq!(decoded, rendered().subject);
    }

    // Enough base64 for the test, so no decoding crate is added for it.
    fn decode_base64(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for c in text.bytes().filter(|&c| c != b'=') {
            let value = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            bits = (bits << 6) | value;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        out
    }

    #[test]
    fn attached_files_follow_the_letter_and_no_procedure_means_no_procedure_header() {
        let from: Mailbox = "accession@example.org".parse().unwrap();
        let to: Vec<Mailbox> = vec!["ombudsman@gov.example".parse().unwrap()];
        let date = Utc.with_ymd_and_hms(2026, 12, 4, 6, 0, 0).unwrap();
        let mut email = rendered();
        email.attachments = vec![
            super::super::templates::Attachment {
                file_name: "checkpoint-7.json".into(),
                content_type: "application/json",
                body: "{\"size\": 7}\n".into(),
            },
            super::super::templates::Attachment {
                file_name: "accession-audit-0123.pub".into(),
                content_type: "text/plain",
                body: "abcd\n".into(),
            },
        ];
        let headers = ExtraHeaders {
            procedure_id: None,
            kind: NotificationKind::Checkpoint,
        };
        let message =
            build_message(&from, &to, "<cp-1@example.org>", date, &email, &headers).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("Content-Type: multipart/mixed;"), "{raw}");
        assert!(raw.contains("multipart/alternative;"), "{raw}");
        assert!(!raw.contains("X-Accession-Procedure"), "{raw}");
        assert!(raw.contains("X-Accession-Kind: checkpoint\r\n"), "{raw}");
        let letter = raw.find("text/html").unwrap();
        let json = raw
            .find("filename=\"checkpoint-7.json\"")
            .expect("the checkpoint file");
        let key = raw
            .find("filename=\"accession-audit-0123.pub\"")
            .expect("the key file");
        assert!(letter < json && json < key, "{raw}");
        assert!(raw.contains("Content-Type: application/json"), "{raw}");

        email.attachments[0].content_type = "not a type";
        let err = build_message(&from, &to, "<cp-1@example.org>", date, &email, &headers)
            .unwrap_err()
            .to_string();
        assert!(err.contains("checkpoint-7.json"), "{err}");
    }

    #[test]
    fn every_recipient_is_in_the_envelope() {
        let message = build("<a@b>").unwrap();
        let to: Vec<String> = message
            .envelope()
            .to()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(to, ["moj@gov.example", "registry@gov.example"]);
        assert_eq!(
            message.envelope().from().map(|a| a.to_string()).as_deref(),
            Some("accession@example.org")
        );
    }

    #[test]
    fn a_message_without_recipient_or_with_a_bad_id_is_refused() {
        let from: Mailbox = "accession@example.org".parse().unwrap();
        let date = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        let headers = ExtraHeaders {
            procedure_id: Some("p".into()),
            kind: NotificationKind::Reminder,
        };
        let err = build_message(&from, &[], "<a@b>", date, &rendered(), &headers).unwrap_err();
        assert!(matches!(err, MessageError::NoRecipient));
        for bad in ["a@b", "<ab>", "<a b@c>", "<@b>", "<a@b>\r\nBcc: x@y"] {
            assert!(
                matches!(build(bad), Err(MessageError::BadMessageId(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_message_id_domain_is_the_from_domain() {
        assert_eq!(
            message_id_domain("Accession <accession@Example.ORG>"),
            "example.org"
        );
        assert_eq!(message_id_domain("accession@mfa.gov.kg"), "mfa.gov.kg");
        assert_eq!(message_id_domain("Accession"), "localhost");
        assert_eq!(message_id_domain(""), "localhost");
    }
}
