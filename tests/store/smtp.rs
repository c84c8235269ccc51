//! The SMTP transport alone against a real SMTP server on a loopback port, and against a port
//! where nothing listens.

use accession::config::{SmtpSecurity, SmtpSettings};
use accession::engine::NotificationKind;
use accession::notify::{ExtraHeaders, Mailbox, Mailer, RenderedEmail, SmtpMailer, build_message};
use chrono::{TimeZone, Utc};

use crate::mailserver;

fn settings(port: u16, timeout_secs: u64) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        timeout_secs,
        pool_max: 2,
    }
}

fn message(message_id: &str) -> accession::notify::Message {
    message_to(
        message_id,
        &[
            "Ministry of Justice <moj@gov.example>",
            "registry@gov.example",
        ],
    )
}

fn message_to(message_id: &str, to: &[&str]) -> accession::notify::Message {
    let from: Mailbox = "Accession <accession@example.org>".parse().unwrap();
    let to: Vec<Mailbox> = to.iter().map(|a| a.parse().unwrap()).collect();
    let rendered = RenderedEmail {
        subject: "[Accession] Reminder: ETS No. 112 - Parliament, due 2024-05-01".into(),
        text: "Dear colleagues,\n\nThe stage Parliament is due on 2024-05-01.\n".into(),
        html: "<p>Dear colleagues,</p><p>The stage Parliament is due on 2024-05-01.</p>".into(),
        attachments: Vec::new(),
    };
    build_message(
        &from,
        &to,
        message_id,
        Utc.with_ymd_and_hms(2024, 4, 24, 9, 0, 0).unwrap(),
        &rendered,
        &ExtraHeaders {
            procedure_id: Some("kg-ets-112".into()),
            kind: NotificationKind::Reminder,
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_the_server_with_its_envelope_and_headers() {
    let (port, inbox) = mailserver::start(0, None);
    let mailer = SmtpMailer::new(&settings(port, 10), None).unwrap();

    mailer
        .send(&message("<outbox-1.1@example.org>"))
        .await
        .unwrap();
    mailer
        .send(&message("<outbox-2.1@example.org>"))
        .await
        .unwrap();

    let received = inbox.wait_for(2);
    assert_eq!(received.len(), 2, "{received:?}");
    let first = &received[0];
    assert_eq!(first.from, "accession@example.org");
    assert_eq!(first.to, ["moj@gov.example", "registry@gov.example"]);
    let raw = first.data.clone();
    assert!(
        raw.contains("Subject: [Accession] Reminder: ETS No. 112 - Parliament, due 2024-05-01"),
        "{raw}"
    );
    assert!(
        raw.contains("Message-ID: <outbox-1.1@example.org>"),
        "{raw}"
    );
    assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
    assert!(
        raw.contains("The stage Parliament is due on 2024-05-01."),
        "{raw}"
    );
    let second = received[1].data.clone();
    assert!(
        second.contains("Message-ID: <outbox-2.1@example.org>"),
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_a_transient_failure() {
    // A port that was free a moment ago and is closed again.
    let port = mailserver::free_port();
    let mailer = SmtpMailer::new(&settings(port, 2), None).unwrap();

    let err = mailer
        .send(&message("<outbox-3.1@example.org>"))
        .await
        .unwrap_err();

    assert!(!err.permanent, "{err}");
    assert!(err.server, "the server's failure, not the message's: {err}");
    assert!(err.reason.contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// Whose fault a failure is: 421 (at the greeting, or on a pooled connection) is the server's;
/// a 450 to one recipient is that message's, for now; a 550 is that message's for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_is_the_servers_failure_and_a_450_the_messages() {
    let (port, inbox) = mailserver::start(0, Some("unknown@"));
    let mailer = SmtpMailer::new(&settings(port, 10), None).unwrap();
    // A connection in the pool first, so the outage meets it at MAIL FROM.
    mailer
        .send(&message("<fault-1@example.org>"))
        .await
        .unwrap();

    inbox.set_unavailable(true);
    for id in ["<fault-2@example.org>", "<fault-3@example.org>"] {
        let err = mailer.send(&message(id)).await.unwrap_err();
        assert!(err.server && !err.permanent, "{err}");
        assert!(err.reason.contains("421"), "{err}");
    }
    inbox.set_unavailable(false);

    inbox.defer(Some("busy@"));
    let err = mailer
        .send(&message_to("<fault-4@example.org>", &["busy@gov.example"]))
        .await
        .unwrap_err();
    assert!(!err.server && !err.permanent, "{err}");
    assert!(err.reason.contains("450"), "{err}");
    assert!(err.to_string().starts_with("transient failure"), "{err}");
    let err = mailer
        .send(&message_to(
            "<fault-5@example.org>",
            &["unknown@gov.example"],
        ))
        .await
        .unwrap_err();
    assert!(!err.server && err.permanent, "{err}");
    mailer
        .send(&message("<fault-6@example.org>"))
        .await
        .unwrap();
    assert_eq!(inbox.wait_for(2).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_the_server_refuses_is_a_permanent_failure() {
    let (port, inbox) = mailserver::start(0, Some("unknown@"));
    let mailer = SmtpMailer::new(&settings(port, 10), None).unwrap();

    let err = mailer
        .send(&message_to(
            "<outbox-4.1@example.org>",
            &["unknown@gov.example"],
        ))
        .await
        .unwrap_err();

    assert!(err.permanent, "{err}");
    assert!(err.reason.contains("550"), "{err}");
    assert!(inbox.all().is_empty());
}

/// Many messages at once share the pool: no more sessions than `pool_max`, each reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_messages_share_the_pooled_connections() {
    let (port, inbox) = mailserver::start(0, Some("nobody"));
    let mailer = std::sync::Arc::new(SmtpMailer::new(&settings(port, 10), None).unwrap());
    let sends = (0..20).map(|i| {
        let mailer = std::sync::Arc::clone(&mailer);
        async move {
            mailer
                .send(&message(&format!("<pool-{i}@example.org>")))
                .await
        }
    });
    for result in futures_util::future::join_all(sends).await {
        result.unwrap();
    }
    assert_eq!(inbox.wait_for(20).len(), 20);
    let sessions = inbox.sessions();
    assert!(
        (1..=2).contains(&sessions),
        "20 messages over at most pool_max = 2 connections, not {sessions}"
    );
    // A refusal of one message leaves the pool working for the next.
    let err = mailer
        .send(&message_to(
            "<pool-refused@example.org>",
            &["nobody@gov.example"],
        ))
        .await
        .unwrap_err();
    assert!(err.permanent, "{err}");
    mailer
        .send(&message("<pool-after@example.org>"))
        .await
        .unwrap();
    assert_eq!(inbox.wait_for(21).len(), 21);
}
