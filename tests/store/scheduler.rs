//! The scheduler and the dispatcher on a real database and a real SMTP server: reminders,
//! deadlines and escalations fire on time, once, in the recipient's language, whatever the
//! downtime, the number of instances or a crash.

use std::collections::BTreeMap;

use accession::app::Accession;
use accession::clock::{Clock, ManualClock};
use accession::engine::StartProcedure;
use accession::ids::{ConventionId, StateCode, WorkflowId};
use accession::scheduler::{Dispatcher, SchedulerOptions, tick};
use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};

use crate::mailserver::{self, Received};
use crate::on_both;
use crate::support::{TestDb, actor, advance, count, import_copies, pid};

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn options(owner: &str) -> SchedulerOptions {
    SchedulerOptions {
        owner: owner.into(),
        batch_size: 7,
        lease: TimeDelta::minutes(5),
    }
}

/// Institutions and conventions of the seed, and one Istanbul procedure moved to `legal-review`
/// (the Ministry of Justice's, due in six months, with a Monday 09:00 reminder, a reminder 14
/// days before and an escalation to the Ministry of Foreign Affairs 7 days after) at `entered`.
pub(crate) async fn procedure_in_legal_review(
    app: &Accession,
    clock: &ManualClock,
    entered: DateTime<Utc>,
) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    app.import_states(&root.join("config/demo/states.toml"))
        .await
        .unwrap();
    app.import_institutions(&root.join("config/demo/institutions.toml"))
        .await
        .unwrap();
    app.import_conventions(&root.join("config/demo/conventions.toml"))
        .await
        .unwrap();
    clock.set(entered);
    let mfa = actor(app, "mfa").await;
    app.start(
        &WorkflowId::parse("coe-accession").unwrap(),
        &StartProcedure {
            id: pid("kg-cets-210"),
            state: StateCode::parse("KG").unwrap(),
            convention: ConventionId::parse("cets-210").unwrap(),
            comment: None,
        },
        &mfa,
    )
    .await
    .unwrap();
    app.act(&pid("kg-cets-210"), &advance(1, "legal-review"), &mfa)
        .await
        .unwrap();
}

/// (Date header, kind, first recipient's institution) of what the server received, by time.
fn summary(messages: &[Received]) -> Vec<(DateTime<Utc>, String, String)> {
    let mut out: Vec<_> = messages
        .iter()
        .filter_map(|m| {
            let kind = m.header("X-Accession-Kind")?;
            if !["reminder", "deadline", "escalation"].contains(&kind.as_str()) {
                return None;
            }
            let date = DateTime::parse_from_rfc2822(&m.header("Date")?)
                .ok()?
                .with_timezone(&Utc);
            // The demo addresses are <office>@<institution>.example.org.
            let to = m.to[0].split('@').nth(1)?.split('.').next()?.to_string();
            Some((date, kind, to))
        })
        .collect();
    out.sort();
    out
}

/// Six months and more of simulated time, a scheduler pass every three hours, with the service
/// down for three weeks in March: every reminder and escalation at its time, once.
async fn six_months_of_reminders_and_escalations_arrive_on_time_and_once(db: &TestDb) {
    let (port, inbox) = mailserver::start(0, None);
    let clock = crate::support::clock();
    let app = db.app_with(db.smtp_settings(port), &clock).await;
    let entered = at("2027-01-04T04:00:00Z"); // Monday, 10:00 in Bishkek
    procedure_in_legal_review(&app, &clock, entered).await;
    let dispatcher = Dispatcher::from_settings(&app).unwrap();
    let down = (at("2027-03-01T00:00:00Z"), at("2027-03-22T00:00:00Z"));

    let mut now = at("2027-01-04T06:00:00Z");
    while now <= at("2027-07-15T00:00:00Z") {
        if now < down.0 || now >= down.1 {
            clock.set(now);
            tick(&app, &options("a"), now).await.unwrap();
            dispatcher.dispatch(&app, now).await.unwrap();
        }
        now += TimeDelta::hours(3);
    }

    // What must have been sent: 09:00 in Bishkek is 03:00 UTC.
    let mut expected = Vec::new();
    let mut monday = at("2027-01-11T03:00:00Z");
    while monday <= at("2027-07-15T00:00:00Z") {
        if monday < down.0 || monday >= down.1 {
            expected.push((monday, "reminder".to_string(), "moj".to_string()));
        }
        monday += TimeDelta::weeks(1);
    }
    // The three Mondays missed during the downtime are one reminder when the service is back.
    expected.push((down.1, "reminder".into(), "moj".into()));
    // 14 days before the due date (4 July 2027, six months after 4 January).
    expected.push((at("2027-06-20T03:00:00Z"), "reminder".into(), "moj".into()));
    // The due day is over at midnight in Bishkek: 18:00 UTC. Coordinators hear of it too.
    expected.push((at("2027-07-04T18:00:00Z"), "deadline".into(), "mfa".into()));
    expected.push((at("2027-07-04T18:00:00Z"), "deadline".into(), "moj".into()));
    // Seven days later, at 09:00: the escalation to the MFA and the ministry.
    expected.push((
        at("2027-07-11T03:00:00Z"),
        "escalation".into(),
        "mfa".into(),
    ));
    expected.push((
        at("2027-07-11T03:00:00Z"),
        "escalation".into(),
        "moj".into(),
    ));
    expected.sort();
    assert!(expected.iter().all(|(t, k, _)| k != "reminder"
        || *t == down.1
        || *t == at("2027-06-20T03:00:00Z")
        || t.weekday() == Weekday::Mon));

    let received = inbox.all();
    assert_eq!(summary(&received), expected);
    // Each outbox row was delivered once: as many messages as distinct Message-IDs.
    let ids: std::collections::BTreeSet<_> = received
        .iter()
        .filter_map(|m| m.header("Message-ID"))
        .collect();
    assert_eq!(ids.len(), received.len());
    // Everything was sent but the call to act on `assessment`, which the procedure had left
    // before the first pass: it is cancelled, not sent.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'").await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE status = 'cancelled' AND kind = 'action_needed' \
             AND payload LIKE '%\"assessment\"%'"
        )
        .await,
        1
    );
    // Every firing is in the procedure's history, by the scheduler, and the chain holds.
    let fired = count(
        &app,
        "SELECT COUNT(*) FROM history WHERE actor_name = 'scheduler'",
    )
    .await;
    // 24 weekly reminders + the catch-up + the one before due + deadline + escalation.
    assert_eq!(fired, 28);
    assert!(app.store_for_tests().verify(None).await.unwrap().ok());
    // The next Monday's reminder is set; nothing else is pending.
    let pending = app
        .store_for_tests()
        .timers(&pid("kg-cets-210"), false)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].fire_at, at("2027-07-19T03:00:00Z"));
}
on_both!(six_months_of_reminders_and_escalations_arrive_on_time_and_once);

/// Emails reach the institutions' addresses in their languages, with what they must know.
async fn an_email_names_the_convention_stage_due_date_and_link_in_the_recipients_language(
    db: &TestDb,
) {
    let (port, inbox) = mailserver::start(0, None);
    let clock = crate::support::clock();
    let app = db.app_with(db.smtp_settings(port), &clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    let now = at("2027-07-04T18:00:00Z");
    clock.set(now);
    tick(&app, &options("a"), now).await.unwrap();
    Dispatcher::from_settings(&app)
        .unwrap()
        .dispatch(&app, now)
        .await
        .unwrap();
    let received = inbox.all();
    let by_kind_to = |kind: &str, domain: &str| -> Received {
        received
            .iter()
            .find(|m| {
                m.header("X-Accession-Kind").as_deref() == Some(kind)
                    && m.to.iter().any(|t| t.contains(domain))
            })
            .unwrap_or_else(|| panic!("no {kind} email to {domain}"))
            .clone()
    };
    // The Ministry of Justice reads Russian; the MFA English.
    let moj = by_kind_to("deadline", "moj.example.org");
    let subject = moj.header("Subject").unwrap();
    assert!(
        subject.contains("=?utf-8?"),
        "a Russian subject is encoded: {subject}"
    );
    let body = decoded_text(&moj.data);
    for needle in [
        "CETS No. 210",
        "Кыргызская Республика",
        "2027-07-04",
        "http://127.0.0.1:8080/procedures/kg-cets-210",
    ] {
        assert!(
            body.contains(needle),
            "the Russian email lacks {needle}:\n{body}"
        );
    }
    let mfa = by_kind_to("deadline", "mfa.example.org");
    let body = decoded_text(&mfa.data);
    for needle in [
        "CETS No. 210",
        "Kyrgyz Republic",
        "Domestic legal review",
        "Ministry of Justice",
        "2027-07-04",
        "http://127.0.0.1:8080/procedures/kg-cets-210",
    ] {
        assert!(
            body.contains(needle),
            "the English email lacks {needle}:\n{body}"
        );
    }
    assert_eq!(
        mfa.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    let message_id = mfa.header("Message-ID").unwrap();
    assert!(message_id.ends_with("@example.org>"), "{message_id}");
    let stored = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM outbox WHERE message_id = '{message_id}' AND status = 'sent'"
        ),
    )
    .await;
    assert_eq!(stored, 1, "the Message-ID is the outbox row's");
}
on_both!(an_email_names_the_convention_stage_due_date_and_link_in_the_recipients_language);

/// The plain-text part of a message, decoded.
pub(crate) fn decoded_text(data: &str) -> String {
    let message = mail_parser::MessageParser::default()
        .parse(data.as_bytes())
        .expect("a MIME message");
    message.body_text(0).expect("a text part").into_owned()
}

/// SMTP down (nothing listening): nothing is lost — the row tried waits with its error and backs
/// off, the others are not even tried (they would fail alike and spend their attempts), and the
/// passes during the outage's wait try nothing; the probe after it costs nothing; SMTP back: each
/// is delivered once.
async fn with_smtp_down_rows_wait_and_once_it_is_back_each_is_delivered_once(db: &TestDb) {
    let port = mailserver::free_port();
    let clock = crate::support::clock();
    // One connection: one email tried per wave, so the stop after a failure shows plainly.
    let mut settings = db.smtp_settings(port);
    settings.mail.smtp.pool_max = 1;
    let app = db.app_with(settings, &clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    // Two more procedures: more mail waiting.
    let mfa = actor(&app, "mfa").await;
    for id in ["kg-ets-185", "kg-cets-197"] {
        app.start(
            &WorkflowId::parse("coe-accession").unwrap(),
            &StartProcedure {
                id: pid(id),
                state: StateCode::parse("KG").unwrap(),
                convention: ConventionId::parse(&id[3..]).unwrap(),
                comment: None,
            },
            &mfa,
        )
        .await
        .unwrap();
    }
    let dispatcher = Dispatcher::from_settings(&app).unwrap();
    let untried = "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts = 0 \
                   AND claimed_by IS NULL";

    let now = at("2027-01-04T05:00:00Z");
    clock.set(now);
    let report = dispatcher.dispatch(&app, now).await.unwrap();
    assert_eq!((report.sent, report.retried, report.dead), (0, 1, 0));
    let failed = "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts = 1 \
                  AND last_error LIKE '%127.0.0.1%'";
    assert_eq!(count(&app, failed).await, 1);
    let waiting = count(&app, untried).await;
    assert!(waiting >= 2, "the others wait, unattempted and unclaimed");
    assert_eq!(
        report.server_down_until,
        Some(now + TimeDelta::seconds(60)),
        "the outage's first wait is retry_base_secs"
    );
    // Still down half a minute later: nothing is tried during the wait (before the outage was
    // kept, each pass tried the next row and spent its attempt).
    clock.set(now + TimeDelta::seconds(30));
    let report = dispatcher.dispatch(&app, clock.now()).await.unwrap();
    assert_eq!((report.sent, report.retried), (0, 0));
    assert_eq!(count(&app, untried).await, waiting);
    // After the wait one email probes, and finds the server still down: it spends nothing.
    clock.set(now + TimeDelta::seconds(60));
    let report = dispatcher.dispatch(&app, clock.now()).await.unwrap();
    assert_eq!(report.retried, 1);
    assert_eq!(
        report.server_down_until,
        Some(now + TimeDelta::seconds(180)),
        "the wait doubles"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE attempts > 0").await,
        1
    );

    let (_, inbox) = mailserver::start(port, None);
    let later = now + TimeDelta::hours(2);
    clock.set(later);
    let report = dispatcher.dispatch(&app, later).await.unwrap();
    let sent = count(&app, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await;
    assert_eq!(report.sent as i64, sent);
    assert_eq!(sent, waiting + 1);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").await,
        0
    );
    clock.set(later + TimeDelta::days(1));
    assert_eq!(
        dispatcher.dispatch(&app, clock.now()).await.unwrap(),
        Default::default()
    );
    let received = inbox.wait_for(sent as usize);
    assert_eq!(received.len() as i64, sent);
    // Only the email that found the outage spent a failed attempt.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND attempts = 2"
        )
        .await,
        1
    );
}
on_both!(with_smtp_down_rows_wait_and_once_it_is_back_each_is_delivered_once);

/// A permanent refusal (550) makes the row dead at once with the server's words; a retry puts it
/// back and, once the address is fixed on the server side, it is delivered.
async fn a_refused_address_is_a_dead_letter_with_its_error_until_retried(db: &TestDb) {
    let (port, inbox) = mailserver::start(0, Some("moj.example.org"));
    let clock = crate::support::clock();
    let app = db.app_with(db.smtp_settings(port), &clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    let dispatcher = Dispatcher::from_settings(&app).unwrap();
    let report = dispatcher
        .dispatch(&app, at("2027-01-04T05:00:00Z"))
        .await
        .unwrap();
    let to_moj = count(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE recipient_institution = 'moj'",
    )
    .await;
    assert!(to_moj > 0);
    assert_eq!(report.dead as i64, to_moj);
    let dead = app
        .store_for_tests()
        .outbox(Some(accession::store::OutboxStatus::Dead), 100)
        .await
        .unwrap();
    assert_eq!(dead.len() as i64, to_moj);
    assert!(
        dead[0].last_error.as_deref().unwrap().contains("550"),
        "{:?}",
        dead[0].last_error
    );
    assert_eq!(inbox.all().len() as u64, report.sent);

    // Requeued, it is tried again (and refused again, since the server still refuses).
    assert_eq!(
        app.store_for_tests()
            .outbox_retry(Some(dead[0].id), clock.now())
            .await
            .unwrap(),
        1
    );
    let again = dispatcher.dispatch(&app, clock.now()).await.unwrap();
    assert_eq!((again.sent, again.dead), (0, 1));
}
on_both!(a_refused_address_is_a_dead_letter_with_its_error_until_retried);

/// Many due timers, two schedulers and two dispatchers (separate pools, as separate processes
/// would be) at once: each timer fires once and each email is delivered once.
async fn two_schedulers_and_two_dispatchers_send_each_reminder_exactly_once(db: &TestDb) {
    let (port, inbox) = mailserver::start(0, None);
    let clock = crate::support::clock();
    let settings = db.smtp_settings(port);
    let a = db.app_with(settings.clone(), &clock).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    a.import_states(&root.join("config/demo/states.toml"))
        .await
        .unwrap();
    a.import_institutions(&root.join("config/demo/institutions.toml"))
        .await
        .unwrap();
    a.import_conventions(&root.join("config/demo/conventions.toml"))
        .await
        .unwrap();
    import_copies(&a, db.dir.path(), "cets-210", 12).await;
    let b = db.app_with(settings, &clock).await;
    clock.set(at("2027-01-04T04:00:00Z"));
    let mfa = actor(&a, "mfa").await;
    for n in 0..12 {
        let id = pid(&format!("kg-cets-210-{n}"));
        a.start(
            &WorkflowId::parse("coe-accession").unwrap(),
            &StartProcedure {
                id: id.clone(),
                state: StateCode::parse("KG").unwrap(),
                convention: ConventionId::parse(format!("cets-210-{n}")).unwrap(),
                comment: None,
            },
            &mfa,
        )
        .await
        .unwrap();
        a.act(&id, &advance(1, "legal-review"), &mfa).await.unwrap();
    }
    // Everything sent so far is out of the way (the calls to act on `assessment`, left at
    // once, are cancelled); then, at the due date's end, every procedure has its deadline, the
    // Monday reminder and the reminder before due (dropped: its day is over) due.
    let first = Dispatcher::from_settings(&a).unwrap();
    first.dispatch(&a, clock.now()).await.unwrap();
    let before = count(&a, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await as usize;
    assert_eq!(inbox.wait_for(before).len(), before);
    let now = at("2027-07-05T03:00:00Z");
    clock.set(now);
    let due = count(
        &a,
        &format!(
            "SELECT COUNT(*) FROM timers WHERE status = 'pending' AND fire_at <= '{}'",
            if a.store_for_tests().backend() == sea_orm::DbBackend::Postgres {
                now.to_rfc3339()
            } else {
                now.format("%Y-%m-%d %H:%M:%S").to_string()
            }
        ),
    )
    .await;
    assert!(due >= 24, "{due} timers due");
    let da = Dispatcher::from_settings(&a).unwrap();
    let db_ = Dispatcher::from_settings(&b).unwrap();
    let (ra, rb) = tokio::join!(
        async {
            let t = tick(&a, &options("a"), now).await.unwrap();
            let d = da.dispatch(&a, now).await.unwrap();
            (t, d)
        },
        async {
            let t = tick(&b, &options("b"), now).await.unwrap();
            let d = db_.dispatch(&b, now).await.unwrap();
            (t, d)
        }
    );
    // Whatever the interleaving, a last pass by either finds nothing left to do.
    let rest_t = tick(&a, &options("a"), now).await.unwrap();
    let rest_d = da.dispatch(&a, now).await.unwrap();
    assert_eq!(rest_t, Default::default());
    let fired = ra.0.fired + rb.0.fired;
    assert_eq!(fired + ra.0.dropped + rb.0.dropped, due as u64);
    assert_eq!(ra.0.dropped + rb.0.dropped, 12, "the reminders before due");
    assert_eq!(ra.0.failed + rb.0.failed, 0);
    let sent = count(&a, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await as usize;
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").await,
        0
    );
    let received = inbox.wait_for(sent);
    assert_eq!(received.len(), sent, "one delivery per outbox row");
    assert_eq!(
        (ra.1.sent + rb.1.sent + rest_d.sent) as usize,
        sent - before
    );
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for m in &received {
        *per_id.entry(m.header("Message-ID").unwrap()).or_default() += 1;
    }
    assert!(
        per_id.values().all(|n| *n == 1),
        "a Message-ID arrived twice"
    );
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM history WHERE actor_name = 'scheduler'"
        )
        .await,
        fired as i64
    );
    assert!(a.store_for_tests().verify(None).await.unwrap().ok());
}
on_both!(two_schedulers_and_two_dispatchers_send_each_reminder_exactly_once);

/// An instance that claimed timers and died holds them only until its lease ends; then another
/// fires them, once.
async fn a_scheduler_killed_holding_a_lease_loses_nothing(db: &TestDb) {
    let clock = crate::support::clock();
    let app = db.app(&clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    let now = at("2027-07-04T18:00:00Z");
    clock.set(now);
    // The "dead" instance claims the due timers and never fires them.
    let claimed = app
        .store_for_tests()
        .claim_due_timers(now, now, "dead-instance", now + TimeDelta::minutes(5), 100)
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    let n = claimed.len() as u64;
    // While the lease lives, another instance leaves them alone, even one evaluating a later
    // time (`run-once --at`): leases run on the real clock.
    clock.set(now + TimeDelta::minutes(4));
    let report = tick(&app, &options("alive"), now + TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(report.fired, 0);
    // Once it has run out, they are fired, once.
    let later = now + TimeDelta::minutes(6);
    clock.set(later);
    let report = tick(&app, &options("alive"), later).await.unwrap();
    // The reminder 14 days before a due day now over is dropped; the others fire.
    assert_eq!((report.fired, report.dropped), (n - 1, 1));
    assert_eq!(
        tick(&app, &options("alive"), later).await.unwrap(),
        Default::default()
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM history WHERE actor_name = 'scheduler'"
        )
        .await,
        (n - 1) as i64
    );
}
on_both!(a_scheduler_killed_holding_a_lease_loses_nothing);

/// A scheduler tick reads only the partial index of pending timers (the plan, not a timing).
async fn the_due_timer_query_uses_the_partial_index(db: &TestDb) {
    use sea_orm::{ConnectionTrait, Statement};
    let clock = crate::support::clock();
    let app = db.app(&clock).await;
    let conn = app.store_for_tests().connection();
    let backend = conn.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "EXPLAIN SELECT id FROM timers WHERE status = 'pending' AND fire_at <= now() \
             ORDER BY fire_at LIMIT 100"
        }
        _ => {
            "EXPLAIN QUERY PLAN SELECT id FROM timers WHERE status = 'pending' \
             AND fire_at <= '2027-01-01' ORDER BY fire_at LIMIT 100"
        }
    };
    if backend == sea_orm::DbBackend::Postgres {
        // An empty table is read sequentially whatever the indexes; make the planner choose.
        conn.execute_unprepared("SET enable_seqscan = off")
            .await
            .unwrap();
    }
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql.to_string()))
        .await
        .unwrap();
    let plan: Vec<String> = rows
        .iter()
        .map(|r| {
            r.try_get_by_index::<String>(0)
                .or_else(|_| r.try_get_by_index::<String>(3))
                .unwrap_or_default()
        })
        .collect();
    assert!(
        plan.iter().any(|l| l.contains("timers_pending_fire_at")),
        "the plan does not use the partial index: {plan:?}"
    );
}
on_both!(the_due_timer_query_uses_the_partial_index);

/// Inside a long-lived process: the passes run on their own until told to stop, and the pass in
/// progress finishes first.
async fn background_passes_fire_and_send_until_told_to_stop(db: &TestDb) {
    use accession::scheduler::repeat;
    let (port, inbox) = mailserver::start(0, None);
    let clock = crate::support::clock();
    let app = db.app_with(db.smtp_settings(port), &clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    clock.set(at("2027-01-11T03:00:00Z")); // the first Monday reminder is due
    let dispatcher = Dispatcher::from_settings(&app).unwrap();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (fired_tx, mut fired_rx) = tokio::sync::mpsc::unbounded_channel();
    let every = std::time::Duration::from_millis(5);
    let scheduler = repeat("scheduler", every, stop.clone(), || async {
        let report = tick(&app, &options("bg"), clock.now()).await?;
        let _ = fired_tx.send(report.fired);
        Ok(report)
    });
    let sender = repeat("dispatcher", every, stop, || {
        dispatcher.dispatch(&app, clock.now())
    });
    let control = async {
        // Wait until the reminder has fired and its email has arrived, then stop.
        while fired_rx.recv().await == Some(0) {}
        let inbox = std::sync::Arc::clone(&inbox);
        let arrived = tokio::task::spawn_blocking(move || {
            inbox.wait_until(|m| m.header("X-Accession-Kind").as_deref() == Some("reminder"))
        })
        .await
        .unwrap();
        assert!(arrived, "no reminder arrived");
        stop_tx.send(true).unwrap();
    };
    tokio::join!(scheduler, sender, control);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM history WHERE actor_name = 'scheduler'"
        )
        .await,
        1
    );
}
on_both!(background_passes_fire_and_send_until_told_to_stop);

/// A timer that cannot fire (here its procedure's stored workflow no longer parses) is reported, keeps
/// its claim until the lease ends and does not hold up the pass or the other timers.
async fn a_timer_that_cannot_fire_is_retried_after_its_lease_without_stalling_the_rest(
    db: &TestDb,
) {
    use sea_orm::ConnectionTrait;
    let clock = crate::support::clock();
    let app = db.app(&clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    let conn = app.store_for_tests().connection();
    conn.execute_unprepared(
        "INSERT INTO workflow_definitions (hash, workflow_id, version, title, source, created_at) \
         SELECT 'broken', workflow_id, version, title, 'not = [toml', created_at \
         FROM workflow_definitions",
    )
    .await
    .unwrap();
    conn.execute_unprepared(
        "UPDATE procedures SET workflow_hash = 'broken' WHERE id = 'kg-cets-210'",
    )
    .await
    .unwrap();
    let now = at("2027-01-11T03:00:00Z");
    clock.set(now);
    let mut tight = options("a");
    tight.batch_size = 1;
    let report = tick(&app, &tight, now).await.unwrap();
    assert_eq!((report.fired, report.failed), (0, 1));
    // Still claimed: a pass now finds nothing to do.
    clock.set(now + TimeDelta::minutes(1));
    let report = tick(&app, &tight, clock.now()).await.unwrap();
    assert_eq!(report, Default::default());
    // After the lease, it is tried (and fails) again.
    clock.set(now + TimeDelta::minutes(6));
    let report = tick(&app, &tight, clock.now()).await.unwrap();
    assert_eq!(report.failed, 1);
}
on_both!(a_timer_that_cannot_fire_is_retried_after_its_lease_without_stalling_the_rest);

/// A reminder going out does not make a ministry's command stale; another institution's act does.
async fn a_fired_reminder_does_not_send_a_ministry_back_to_reload(db: &TestDb) {
    use accession::app::AppError;
    use accession::engine::Refusal;
    let clock = crate::support::clock();
    let app = db.app(&clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    let id = pid("kg-cets-210");
    let seen = app.store_for_tests().procedure(&id).await.unwrap().unwrap();
    assert_eq!((seen.version.0, seen.last_sequence), (2, 2));
    // The Monday reminder fires meanwhile.
    let monday = at("2027-01-11T03:00:00Z");
    clock.set(monday);
    assert_eq!(tick(&app, &options("a"), monday).await.unwrap().fired, 1);
    let moj = actor(&app, "moj").await;
    let view = app
        .act(
            &id,
            &crate::support::record(2, "compatibility_report", "MoJ/2027/1"),
            &moj,
        )
        .await
        .expect("accepted on the version the ministry saw");
    assert_eq!(view.procedure.version.0, 4);
    // The MFA comments; a command still naming version 4 is now stale.
    let mfa = actor(&app, "mfa").await;
    let comment = accession::engine::Command {
        expected_version: accession::ids::Version(4),
        act: accession::engine::Act::Comment {
            text: "Noted.".into(),
        },
    };
    app.act(&id, &comment, &mfa).await.unwrap();
    let stale = app
        .act(
            &id,
            &crate::support::advance(4, "interagency-consultation"),
            &moj,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(stale, AppError::Refused(Refusal::StaleVersion { .. })),
        "{stale}"
    );
}
on_both!(a_fired_reminder_does_not_send_a_ministry_back_to_reload);

/// A dispatcher records outcomes only for rows it still holds, all of a wave in one go: once
/// its lease is gone and another has the row, its late outcome changes nothing.
async fn an_outcome_counts_only_from_the_dispatcher_holding_the_row(db: &TestDb) {
    use accession::store::{OutboxStatus, Settlement};
    let clock = crate::support::clock();
    let app = db.app(&clock).await;
    procedure_in_legal_review(&app, &clock, at("2027-01-04T04:00:00Z")).await;
    let now = at("2027-01-04T05:00:00Z");
    clock.set(now);
    let lease = now + TimeDelta::minutes(5);
    let rows = app
        .store_for_tests()
        .claim_outbox(now, now, "first", lease, 2)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the move to legal-review queued emails");
    let (a, b) = (rows[0].id, rows[1].id);
    let sent = Settlement::Sent {
        addresses: "moj@gov.example".into(),
        language: accession::reference::Language::Ru,
        at: now,
    };
    // Someone else's outcome for rows `first` holds is refused, row by row.
    let refused = app
        .store_for_tests()
        .outbox_settle("second", &[(a, sent.clone())])
        .await
        .unwrap();
    assert_eq!(refused, [false]);
    assert_eq!(
        app.store_for_tests()
            .outbox_row(a)
            .await
            .unwrap()
            .unwrap()
            .status,
        OutboxStatus::Pending
    );
    // `first`'s lease runs out and `second` claims the rows; `first`'s late outcomes are refused,
    // `second`'s recorded, both kinds in one call.
    clock.set(lease + TimeDelta::seconds(1));
    let later = clock.now();
    let taken = app
        .store_for_tests()
        .claim_outbox(later, later, "second", later + TimeDelta::minutes(5), 2)
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|r| r.id).collect::<Vec<_>>(), [a, b]);
    let late = app
        .store_for_tests()
        .outbox_settle("first", &[(a, sent.clone())])
        .await
        .unwrap();
    assert_eq!(late, [false]);
    let cancelled = Settlement::Cancelled {
        reason: "moved on".into(),
    };
    let recorded = app
        .store_for_tests()
        .outbox_settle("second", &[(a, sent.clone()), (b, cancelled.clone())])
        .await
        .unwrap();
    assert_eq!(recorded, [true, true]);
    let row_a = app.store_for_tests().outbox_row(a).await.unwrap().unwrap();
    assert_eq!(row_a.status, OutboxStatus::Sent);
    assert_eq!(row_a.attempts, 1);
    assert_eq!(row_a.recipient_address.as_deref(), Some("moj@gov.example"));
    let row_b = app.store_for_tests().outbox_row(b).await.unwrap().unwrap();
    assert_eq!(row_b.status, OutboxStatus::Cancelled);
    assert_eq!(row_b.last_error.as_deref(), Some("moved on"));
    // A settled row is settled once.
    let again = app
        .store_for_tests()
        .outbox_settle("second", &[(b, sent)])
        .await
        .unwrap();
    assert_eq!(again, [false]);
    assert_eq!(
        app.store_for_tests()
            .outbox_row(b)
            .await
            .unwrap()
            .unwrap()
            .status,
        OutboxStatus::Cancelled
    );
}
on_both!(an_outcome_counts_only_from_the_dispatcher_holding_the_row);
