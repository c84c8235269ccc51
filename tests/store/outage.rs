//! The dispatcher through long SMTP outages, on a real database and a real SMTP server: an
//! outage costs attempts once, not once per email per pass, so a day without mail kills nothing.

use accession::app::Accession;
use accession::clock::ManualClock;
use accession::engine::StartProcedure;
use accession::ids::{ConventionId, StateCode, WorkflowId};
use accession::scheduler::{Dispatcher, SchedulerOptions, tick};
use accession::store::OutboxStatus;
use chrono::{DateTime, TimeDelta, Utc};

use crate::mailserver;
use crate::on_both;
use crate::support::{TestDb, actor, advance, count, import_copies, pid};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The seed's States, institutions and conventions (with `n` copies of the Istanbul Convention,
/// one for each procedure), and `n` procedures started at `when`: each queues
/// the call to act on its first stage, to the Ministry of Foreign Affairs. How many are pending.
async fn emails_queued(
    app: &Accession,
    dir: &std::path::Path,
    clock: &ManualClock,
    n: usize,
    when: DateTime<Utc>,
) -> i64 {
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
    import_copies(app, dir, "cets-210", n).await;
    clock.set(when);
    let mfa = actor(app, "mfa").await;
    for i in 0..n {
        app.start(
            &WorkflowId::parse("coe-accession").unwrap(),
            &StartProcedure {
                id: pid(&format!("kg-cets-210-{i}")),
                state: StateCode::parse("KG").unwrap(),
                convention: ConventionId::parse(format!("cets-210-{i}")).unwrap(),
                comment: None,
            },
            &mfa,
        )
        .await
        .unwrap();
    }
    count(app, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").await
}

/// (dead, attempts spent) now.
async fn toll(app: &Accession) -> (i64, i64) {
    (
        count(app, "SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await,
        count(app, "SELECT COALESCE(SUM(attempts), 0) FROM outbox").await,
    )
}

/// Pass after pass every `dispatcher.interval_secs` from `from` until `until`.
async fn passes(
    app: &Accession,
    clock: &ManualClock,
    dispatcher: &Dispatcher,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> accession::scheduler::DispatchReport {
    let every = TimeDelta::seconds(app.settings.dispatcher.interval_secs as i64);
    let mut total = accession::scheduler::DispatchReport::default();
    let mut now = from;
    while now < until {
        clock.set(now);
        let report = dispatcher.dispatch(app, now).await.unwrap();
        total.sent += report.sent;
        total.retried += report.retried;
        total.dead += report.dead;
        total.server_down_until = report.server_down_until;
        now += every;
    }
    total
}

/// With the default settings (a pass every 10 s, 8 attempts, backoff from a minute to an hour),
/// a server refusing every session for 24 hours: the emails that found the outage spend one
/// attempt, the probes none, nobody is dead; the server is asked about thirty times, not
/// thousands; once it is back, each email arrives once.
async fn a_day_long_outage_kills_no_email_and_each_arrives_once(db: &TestDb) {
    let (port, inbox) = mailserver::start(0, None);
    let clock = crate::support::clock();
    let app = db.app_with(db.smtp_settings(port), &clock).await;
    let start = at("2027-01-04T04:00:00Z");
    let queued = emails_queued(&app, db.dir.path(), &clock, 20, start).await;
    assert_eq!(queued, 20);
    let dispatcher = Dispatcher::from_settings(&app).unwrap();
    let pool = i64::from(app.settings.mail.smtp.pool_max);

    inbox.set_unavailable(true);
    for hour in 0..24 {
        let from = start + TimeDelta::hours(hour);
        let report = passes(&app, &clock, &dispatcher, from, from + TimeDelta::hours(1)).await;
        assert_eq!((report.sent, report.dead), (0, 0));
        assert!(
            report.server_down_until.is_some(),
            "hour {hour}: {report:?}"
        );
        assert_eq!(toll(&app).await.0, 0, "hour {hour}: nobody dead");
    }
    let (dead, attempts) = toll(&app).await;
    assert_eq!(dead, 0);
    assert!(
        attempts <= pool,
        "only the wave that found the outage spent attempts, not {attempts}"
    );
    let knocks = inbox.turned_away();
    assert!(
        knocks <= pool as usize + 32,
        "the opening wave, then a probe per wait (a minute doubling to an hour): not {knocks}"
    );
    let outage = app
        .store_for_tests()
        .mail_outage(&dispatcher.mailer.describe())
        .await
        .unwrap()
        .expect("the outage is recorded");
    assert_eq!(outage.since, start);
    assert!(outage.last_error.contains("421"), "{}", outage.last_error);

    // Back: by the end of the current wait (an hour at most) the probe finds it, and the queue
    // goes out in that pass.
    inbox.set_unavailable(false);
    let back = start + TimeDelta::hours(24);
    let report = passes(
        &app,
        &clock,
        &dispatcher,
        back,
        back + TimeDelta::minutes(61),
    )
    .await;
    assert_eq!(report.sent, 20, "{report:?}");
    assert_eq!(report.server_down_until, None);
    let received = inbox.wait_for(20);
    assert_eq!(received.len(), 20);
    let ids: std::collections::BTreeSet<_> = received
        .iter()
        .filter_map(|m| m.header("Message-ID"))
        .collect();
    assert_eq!(ids.len(), 20, "each email once");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await,
        20
    );
    // The emails that found the outage: one failed attempt and the one that went.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE attempts = 2").await,
        attempts
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE attempts > 2").await,
        0
    );
    assert!(
        app.store_for_tests()
            .mail_outage(&dispatcher.mailer.describe())
            .await
            .unwrap()
            .is_none()
    );
}
on_both!(a_day_long_outage_kills_no_email_and_each_arrives_once);

/// Two dispatchers (separate pools, as two instances would be) share what one found: the other
/// does not try the server during the wait, and when it is over only one of them probes.
async fn two_dispatchers_share_one_outage_and_one_probe(db: &TestDb) {
    let (port, inbox) = mailserver::start(0, None);
    let clock = crate::support::clock();
    let settings = db.smtp_settings(port);
    let a = db.app_with(settings.clone(), &clock).await;
    let start = at("2027-01-04T04:00:00Z");
    emails_queued(&a, db.dir.path(), &clock, 10, start).await;
    let b = db.app_with(settings, &clock).await;
    let (da, db_) = (
        Dispatcher::from_settings(&a).unwrap(),
        Dispatcher::from_settings(&b).unwrap(),
    );
    inbox.set_unavailable(true);

    let found = da.dispatch(&a, start).await.unwrap();
    let probe_at = found.server_down_until.expect("an outage");
    assert_eq!(probe_at, start + TimeDelta::seconds(60), "retry_base_secs");
    let knocks = inbox.turned_away();
    let meanwhile = db_.dispatch(&b, start).await.unwrap();
    assert_eq!(meanwhile.server_down_until, Some(probe_at));
    assert_eq!((meanwhile.sent, meanwhile.retried), (0, 0));
    assert_eq!(inbox.turned_away(), knocks, "b did not ask the server");
    let attempts = toll(&a).await.1;

    clock.set(probe_at);
    let (ra, rb) = tokio::join!(da.dispatch(&a, probe_at), db_.dispatch(&b, probe_at));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.retried + rb.retried, 1, "one probe: {ra:?} {rb:?}");
    assert_eq!(inbox.turned_away(), knocks + 1);
    assert_eq!(toll(&a).await.1, attempts, "the probe cost nothing");
    let next = at("2027-01-04T04:03:00Z");
    assert_eq!(ra.server_down_until.max(rb.server_down_until), Some(next));

    inbox.set_unavailable(false);
    clock.set(next);
    let (ra, rb) = tokio::join!(da.dispatch(&a, next), db_.dispatch(&b, next));
    assert_eq!(ra.unwrap().sent + rb.unwrap().sent, 10);
    assert_eq!(inbox.wait_for(10).len(), 10);
}
on_both!(two_dispatchers_share_one_outage_and_one_probe);

/// A 450 to one recipient is about that email: it spends its attempts (and dies when they run
/// out), while the server is not taken for down and the others go out in the same pass.
async fn a_temporary_refusal_of_one_message_still_spends_its_attempts(db: &TestDb) {
    let (port, inbox) = mailserver::start(0, None);
    let clock = crate::support::clock();
    let mut settings = db.smtp_settings(port);
    settings.dispatcher.max_attempts = 2;
    let app = db.app_with(settings, &clock).await;
    let start = at("2027-01-04T04:00:00Z");
    emails_queued(&app, db.dir.path(), &clock, 12, start).await;
    // Three of them move on to the Ministry of Justice's review: a call to act for it each.
    let mfa = actor(&app, "mfa").await;
    for i in 0..3 {
        app.act(
            &pid(&format!("kg-cets-210-{i}")),
            &advance(1, "legal-review"),
            &mfa,
        )
        .await
        .unwrap();
    }
    let to_moj = count(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE recipient_institution = 'moj'",
    )
    .await;
    assert_eq!(to_moj, 3);
    inbox.defer(Some("moj.example.org"));
    let dispatcher = Dispatcher::from_settings(&app).unwrap();

    let first = dispatcher.dispatch(&app, start).await.unwrap();
    assert_eq!(first.retried, 3, "{first:?}");
    assert_eq!(first.sent, 9, "the others in the same pass: {first:?}");
    assert_eq!(first.server_down_until, None);
    let deferred = app
        .store_for_tests()
        .outbox(Some(OutboxStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(deferred.len(), 3);
    for row in &deferred {
        assert_eq!(row.attempts, 1);
        assert!(
            row.last_error.as_deref().unwrap().contains("450"),
            "{row:?}"
        );
    }
    assert!(
        app.store_for_tests()
            .mail_outage(&dispatcher.mailer.describe())
            .await
            .unwrap()
            .is_none()
    );

    // The second 450 is the last attempt.
    let later = start + TimeDelta::minutes(5);
    clock.set(later);
    let second = dispatcher.dispatch(&app, later).await.unwrap();
    assert_eq!((second.sent, second.dead), (0, 3), "{second:?}");
    assert_eq!(inbox.all().len(), 9);
}
on_both!(a_temporary_refusal_of_one_message_still_spends_its_attempts);

/// `run-once --at` half a year ahead while the server is down: its timers fire and queue their
/// emails, which are due now, not then; the rows it gave back untried too. Once the server is
/// back, passes at the real time send every one.
async fn a_run_ahead_leaves_what_it_did_not_send_due_now(db: &TestDb) {
    let (port, inbox) = mailserver::start(0, None);
    let clock = crate::support::clock();
    let mut settings = db.smtp_settings(port);
    // One connection: the wave that meets the outage is one email.
    settings.mail.smtp.pool_max = 1;
    let app = db.app_with(settings, &clock).await;
    let start = at("2027-01-04T04:00:00Z");
    emails_queued(&app, db.dir.path(), &clock, 6, start).await;
    let mfa = actor(&app, "mfa").await;
    for i in 0..6 {
        app.act(
            &pid(&format!("kg-cets-210-{i}")),
            &advance(1, "legal-review"),
            &mfa,
        )
        .await
        .unwrap();
    }
    let dispatcher = Dispatcher::from_settings(&app).unwrap();
    dispatcher.dispatch(&app, start).await.unwrap();
    let before = inbox.wait_for(6).len();
    assert_eq!(before, 6, "the calls to act on legal-review");

    inbox.set_unavailable(true);
    let real = start + TimeDelta::hours(1);
    clock.set(real);
    let ahead = at("2027-07-05T03:00:00Z");
    let options = SchedulerOptions {
        owner: "run-once".into(),
        batch_size: 50,
        lease: TimeDelta::minutes(5),
    };
    let fired = tick(&app, &options, ahead).await.unwrap();
    assert!(fired.fired > 0, "{fired:?}");
    let report = dispatcher.dispatch(&app, ahead).await.unwrap();
    assert_eq!((report.sent, report.retried), (0, 1), "{report:?}");
    // A second run further ahead, during the outage's wait: it fires the escalations, and its
    // pass tries nothing at all, so nothing of its own is given back either.
    let further = at("2027-07-12T03:00:00Z");
    let fired = tick(&app, &options, further).await.unwrap();
    assert!(fired.fired > 0, "{fired:?}");
    let report = dispatcher.dispatch(&app, further).await.unwrap();
    assert_eq!((report.sent, report.retried), (0, 0), "{report:?}");
    assert!(report.server_down_until.is_some());
    let pending = app
        .store_for_tests()
        .outbox(Some(OutboxStatus::Pending), 1000)
        .await
        .unwrap();
    assert!(pending.len() >= 12);
    let longest = TimeDelta::seconds(app.settings.dispatcher.retry_max_secs as i64);
    for row in &pending {
        assert!(
            row.next_attempt_at <= real + longest,
            "row {} waits until {}",
            row.id,
            row.next_attempt_at
        );
        if row.attempts == 0 {
            assert!(row.next_attempt_at <= real, "{row:?}");
        }
    }

    inbox.set_unavailable(false);
    let report = passes(
        &app,
        &clock,
        &dispatcher,
        real + TimeDelta::minutes(1),
        real + TimeDelta::hours(2),
    )
    .await;
    assert_eq!(report.sent as usize, pending.len());
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").await,
        0
    );
    assert_eq!(
        inbox.wait_for(before + pending.len()).len(),
        before + pending.len()
    );
}
on_both!(a_run_ahead_leaves_what_it_did_not_send_due_now);
