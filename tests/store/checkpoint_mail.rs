//! Signed checkpoints mailed to the auditor institutions: who gets one, that a period has one
//! checkpoint and one email per institution however many schedulers run, and that the email an
//! auditor receives over real SMTP carries a checkpoint `accession audit verify --checkpoint`
//! accepts.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use accession::app::Accession;
use accession::app::checkpoints::MadeCheckpoint;
use accession::audit::checkpoint::Checkpoint;
use accession::clock::ManualClock;
use accession::config::Settings;
use accession::engine::{
    Act, Actor, CheckpointFacts, Command, NotificationFacts, NotificationKind, Role,
};
use accession::ids::InstitutionId;
use accession::scheduler::Dispatcher;
use accession::store::{CheckpointMail, NewCheckpoint, OutboxRow, OutboxStatus};
use chrono::TimeDelta;
use mail_parser::MimeHeaders;

use crate::mailserver;
use crate::on_both;
use crate::support::{TestDb, clock, count, pid};

const CHECKPOINT_EMAILS: &str = "SELECT COUNT(*) FROM outbox WHERE kind = 'checkpoint'";

fn op() -> Actor {
    Actor::operator("test")
}

fn inst(id: &str) -> InstitutionId {
    InstitutionId::parse(id).unwrap()
}

/// `settings` with a new audit key in the test's folder and a checkpoint a day; the public key
/// file.
fn with_key(db: &TestDb, mut settings: Settings) -> (Settings, PathBuf) {
    let file = db.dir.path().join("audit.key");
    if !file.exists() {
        accession::app::checkpoints::keygen(&file).unwrap();
    }
    settings.audit.key_file = Some(file.clone());
    settings.audit.checkpoint_every_secs = 86_400;
    let mut public = file.into_os_string();
    public.push(".pub");
    (settings, PathBuf::from(public))
}

/// The demo, with auditors at the MFA and (twice) at the Ombudsperson's office, an auditor's
/// token revoked at the Supreme Court, and tokens of other roles: two auditor institutions.
async fn demo_with_auditors(db: &TestDb, settings: Settings, clock: &ManualClock) -> Accession {
    let mut app = db.app_with(settings, clock).await;
    app.demo().await.expect("the demo loads");
    for (institution, role) in [
        ("mfa", Role::Auditor),
        ("ombudsperson", Role::Auditor),
        ("ombudsperson", Role::Auditor),
        ("mfa", Role::Coordinator),
        ("mfa", Role::Admin),
        ("moj", Role::Ministry),
    ] {
        app.create_token(&op(), &inst(institution), role, "a token")
            .await
            .unwrap();
    }
    let revoked = app
        .create_token(&op(), &inst("supreme-court"), Role::Auditor, "gone")
        .await
        .unwrap();
    app.revoke_token(&op(), revoked.row.id).await.unwrap();
    app
}

/// The checkpoint emails in the outbox, oldest first.
async fn checkpoint_rows(app: &Accession) -> Vec<OutboxRow> {
    let mut rows: Vec<OutboxRow> = app
        .store_for_tests()
        .outbox(None, 500)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == NotificationKind::Checkpoint)
        .collect();
    rows.reverse();
    rows
}

fn facts_of(row: &OutboxRow) -> CheckpointFacts {
    match row.facts().unwrap() {
        NotificationFacts::Checkpoint(facts) => facts,
        other => panic!("outbox row {} states {other:?}", row.id),
    }
}

async fn a_scheduled_checkpoint_is_queued_to_every_auditor_institution_and_no_other(db: &TestDb) {
    let clock = clock();
    let (settings, public) = with_key(db, db.settings());
    let app = demo_with_auditors(db, settings, &clock).await;
    let others = count(&app, "SELECT COUNT(*) FROM outbox").await;
    assert!(others > 0, "the demo queues emails of its own");

    let made = app
        .checkpoint_if_due()
        .await
        .unwrap()
        .expect("none yet: one is due");
    assert_eq!(made.mailed_to, [inst("mfa"), inst("ombudsperson")]);
    let rows = checkpoint_rows(&app).await;
    let to: Vec<&str> = rows
        .iter()
        .map(|r| r.recipient_institution.as_str())
        .collect();
    assert_eq!(to, ["mfa", "ombudsperson"]);
    let key = accession::app::checkpoints::public_key_file(&public).unwrap();
    for row in &rows {
        assert_eq!(
            row.procedure, None,
            "a checkpoint's email is about no procedure"
        );
        assert_eq!(row.status, OutboxStatus::Pending);
        assert_eq!(row.next_attempt_at, app.now());
        let facts = facts_of(row);
        assert_eq!(facts.checkpoint, made.checkpoint);
        assert_eq!(facts.public_key, hex::encode(key.as_bytes()));
        assert!(facts.checkpoint.verify(&key).is_ok());
        assert_eq!(
            facts.file,
            format!("checkpoint-{}.json", made.checkpoint.size)
        );
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox").await,
        others + 2,
        "nothing else was queued"
    );

    // Not due again within the day: nothing made, nothing queued.
    clock.advance(TimeDelta::hours(23));
    assert_eq!(app.checkpoint_if_due().await.unwrap(), None);
    assert_eq!(count(&app, CHECKPOINT_EMAILS).await, 2);

    // The recipients are those of the moment the checkpoint is made: the MFA's auditor gone,
    // the next one goes to the Ombudsperson's office alone.
    let mfa_auditor = app
        .tokens(&op())
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.institution.as_str() == "mfa" && t.role == Role::Auditor)
        .unwrap();
    app.revoke_token(&op(), mfa_auditor.id).await.unwrap();
    clock.advance(TimeDelta::hours(1));
    let next = app.checkpoint_if_due().await.unwrap().expect("a day later");
    assert_eq!(next.mailed_to, [inst("ombudsperson")]);
    let rows = checkpoint_rows(&app).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2].recipient_institution, "ombudsperson");
    assert_eq!(facts_of(&rows[2]).checkpoint, next.checkpoint);
    assert_ne!(rows[2].message_id, rows[1].message_id);
}
on_both!(a_scheduled_checkpoint_is_queued_to_every_auditor_institution_and_no_other);

async fn two_schedulers_in_one_period_make_one_checkpoint_and_one_email_per_institution(
    db: &TestDb,
) {
    let clock = clock();
    let (settings, _) = with_key(db, db.settings());
    let a = demo_with_auditors(db, settings.clone(), &clock).await;
    let b = db.app_with(settings, &clock).await;

    // Two instances' passes at the same moment.
    let (one, two) = tokio::join!(a.checkpoint_if_due(), b.checkpoint_if_due());
    let made: Vec<MadeCheckpoint> = [one.unwrap(), two.unwrap()].into_iter().flatten().collect();
    assert_eq!(made.len(), 1, "one checkpoint for the period: {made:?}");
    assert_eq!(count(&a, "SELECT COUNT(*) FROM checkpoints").await, 1);
    assert_eq!(count(&a, CHECKPOINT_EMAILS).await, 2);
    // And again, later in the same period: nothing.
    clock.advance(TimeDelta::hours(2));
    assert_eq!(b.checkpoint_if_due().await.unwrap(), None);
    assert_eq!(a.checkpoint_if_due().await.unwrap(), None);

    // Two instances that both found the next one due, after the same newest checkpoint: the
    // second's is refused, with its emails.
    clock.advance(TimeDelta::days(1));
    let newest = made[0].id;
    let key = a.signing_key().unwrap();
    let (size, root) = a.store_for_tests().log_head().await.unwrap();
    let keep = |app: &Accession, minutes: i64| {
        let cp = Checkpoint::sign(size, &root, app.now() + TimeDelta::minutes(minutes), &key);
        let facts = CheckpointFacts::of(&cp, &key.verifying_key());
        let store = app.store_for_tests().clone();
        let at = app.now();
        async move {
            store
                .keep_checkpoint(NewCheckpoint {
                    checkpoint: &cp,
                    scheduled_after: Some(newest),
                    mail: Some(CheckpointMail { facts: &facts, at }),
                })
                .await
                .unwrap()
        }
    };
    let first = keep(&a, 0).await.expect("the first of the period is kept");
    assert_eq!(first.mailed_to, [inst("mfa"), inst("ombudsperson")]);
    assert_eq!(
        keep(&b, 1).await,
        None,
        "the second of the period is refused"
    );
    assert_eq!(count(&a, "SELECT COUNT(*) FROM checkpoints").await, 2);
    assert_eq!(count(&a, CHECKPOINT_EMAILS).await, 4);
    // The period's checkpoint made, neither scheduler makes another.
    assert_eq!(a.checkpoint_if_due().await.unwrap(), None);
    assert_eq!(b.checkpoint_if_due().await.unwrap(), None);

    // Both dispatchers at once: each email sent once, as one message.
    let (da, db_) = (
        Dispatcher::from_settings(&a).unwrap(),
        Dispatcher::from_settings(&b).unwrap(),
    );
    let (ra, rb) = tokio::join!(da.dispatch(&a, a.now()), db_.dispatch(&b, b.now()));
    ra.unwrap();
    rb.unwrap();
    let rows = checkpoint_rows(&a).await;
    assert!(
        rows.iter().all(|r| r.status == OutboxStatus::Sent),
        "{rows:?}"
    );
    let files: Vec<String> = std::fs::read_dir(&a.settings.mail.outbox_dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| m.contains("X-Accession-Kind: checkpoint"))
        .collect();
    assert_eq!(files.len(), 4, "two checkpoints, two institutions each");
}
on_both!(two_schedulers_in_one_period_make_one_checkpoint_and_one_email_per_institution);

/// Run `accession audit verify …` as an auditor would, in `dir`, on the test's database.
fn audit_verify(db: &TestDb, dir: &Path, command: &str) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<&str> = command
        .strip_prefix("accession ")
        .expect("the command runs accession")
        .split_whitespace()
        .collect();
    let mut process = Process::new(env!("CARGO_BIN_EXE_accession"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ACCESSION") {
            process.env_remove(key);
        }
    }
    let out = process
        .current_dir(dir)
        .env("ACCESSION__DATABASE__URL", &db.url)
        .env("ACCESSION__WORKFLOWS__DIR", root.join("workflows"))
        .env("ACCESSION__DEMO__DIR", root.join("config/demo"))
        .env(
            "ACCESSION__CALENDAR__HOLIDAYS",
            root.join("config/calendars/kg.toml"),
        )
        .args(&args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn a_checkpoint_mailed_over_smtp_checks_out_with_audit_verify(db: &TestDb) {
    let (port, inbox) = mailserver::start(0, None);
    let clock = clock();
    let (settings, _) = with_key(db, db.smtp_settings(port));
    let app = demo_with_auditors(db, settings, &clock).await;
    let made = app.checkpoint_if_due().await.unwrap().expect("due");
    // History written after the checkpoint: the log still extends it.
    let id = pid("kg-cets-210");
    let mfa = crate::support::actor(&app, "mfa").await;
    let version = app
        .store_for_tests()
        .procedure(&id)
        .await
        .unwrap()
        .unwrap()
        .version;
    app.act(
        &id,
        &Command {
            expected_version: version,
            act: Act::Comment {
                text: "after the checkpoint".into(),
            },
        },
        &mfa,
    )
    .await
    .unwrap();

    Dispatcher::from_settings(&app)
        .unwrap()
        .dispatch(&app, app.now())
        .await
        .unwrap();
    let size = made.checkpoint.size;
    let rows = checkpoint_rows(&app).await;
    for (institution, address, russian) in [
        ("ombudsperson", "office@ombudsman.example.org", true),
        ("mfa", "treaty-department@mfa.example.org", false),
    ] {
        let waiting = std::sync::Arc::clone(&inbox);
        let found = tokio::task::spawn_blocking(move || {
            waiting.wait_until(|m| {
                m.header("X-Accession-Kind").as_deref() == Some("checkpoint") && m.to == [address]
            })
        })
        .await
        .unwrap();
        assert!(found, "no checkpoint email to {address}");
        let received: Vec<mailserver::Received> = inbox
            .all()
            .into_iter()
            .filter(|m| m.header("X-Accession-Kind").as_deref() == Some("checkpoint"))
            .filter(|m| m.to == [address])
            .collect();
        assert_eq!(received.len(), 1, "one email to {address}");
        let message = &received[0];
        assert_eq!(message.header("X-Accession-Procedure"), None);
        let row = rows
            .iter()
            .find(|r| r.recipient_institution == institution)
            .unwrap();
        assert_eq!(message.header("Message-ID"), Some(row.message_id.clone()));
        let facts = facts_of(row);

        let parsed = mail_parser::MessageParser::default()
            .parse(message.data.as_bytes())
            .expect("a MIME message");
        let subject = parsed.subject().unwrap_or_default().to_string();
        assert!(subject.contains(&size.to_string()), "{subject}");
        assert_eq!(
            subject.contains("контрольная точка"),
            russian,
            "in the recipient's language: {subject}"
        );
        let text = parsed.body_text(0).expect("a text part").into_owned();
        assert!(text.contains(&facts.verify), "the command, whole:\n{text}");

        // The auditor saves the two files attached and runs the command the email gives.
        let dir = tempfile::tempdir().unwrap();
        let mut names = Vec::new();
        for part in parsed.attachments() {
            let name = part.attachment_name().expect("a file name").to_string();
            std::fs::write(dir.path().join(&name), part.contents()).unwrap();
            names.push(name);
        }
        assert_eq!(
            names,
            [
                format!("checkpoint-{size}.json"),
                facts.public_key_file.clone()
            ]
        );
        let attached =
            std::fs::read_to_string(dir.path().join(format!("checkpoint-{size}.json"))).unwrap();
        assert_eq!(
            Checkpoint::from_json(&attached, "the attachment").unwrap(),
            made.checkpoint
        );
        assert!(
            text.contains(attached.trim_end()),
            "the JSON in the body:\n{text}"
        );
        let (code, said) = audit_verify(db, dir.path(), &facts.verify);
        assert_eq!(code, 0, "{said}");
        assert!(said.starts_with("OK: "), "{said}");
        assert!(
            said.contains(&format!(
                "extends the {size} signed at {}",
                made.checkpoint.time
            )),
            "{said}"
        );

        // A checkpoint altered on its way is refused by the same command.
        let forged = attached.replacen(
            &format!("\"size\": {size}"),
            &format!("\"size\": {}", size + 1),
            1,
        );
        assert_ne!(forged, attached);
        std::fs::write(dir.path().join(format!("checkpoint-{size}.json")), forged).unwrap();
        let (code, said) = audit_verify(db, dir.path(), &facts.verify);
        assert_ne!(code, 0, "{said}");
        assert!(said.contains("signature is not valid"), "{said}");
    }
}
on_both!(a_checkpoint_mailed_over_smtp_checks_out_with_audit_verify);
