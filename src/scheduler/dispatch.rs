//! The outbox dispatcher: sends pending outbox rows, each once. A row is claimed with a lease
//! (see `store::outbox`), rendered in its recipient institution's language from the facts saved
//! with it, and sent; a transient failure is retried with exponential backoff and jitter, a
//! permanent one (or too many attempts) makes the row dead, with the last error kept. Sending
//! never touches a procedure: a transition never waits for, or fails because of, the mail.
//!
//! A failure of the server rather than of a message (nothing listening, a timeout, 421) is an
//! outage, recorded for every dispatcher (see `store::mail_outages`): the emails that met it
//! cost one attempt, then nobody sends until the outage's wait is over, when one email probes
//! whether the server is back — at no cost if it is not — and the wait doubles, up to
//! `retry_max_secs`. An outage of a day costs each email at most one attempt, and kills none.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::app::{Accession, AppError};
use crate::config::DispatcherSettings;
use crate::engine::{
    CheckpointFacts, NotificationFacts, NotificationKind, ProcedureFacts, ProcedureState,
};
use crate::ids::{ConventionId, InstitutionId, ProcedureId};
use crate::notify::{
    Attachment, CheckpointEmail, EmailFacts, ExtraHeaders, Mailbox, Mailer, RenderedEmail,
    SignInEmail, Templates, build_message,
};
use crate::reference::{Convention, Institution, Language};
use crate::store::{OutboxRow, OutboxStatus, Settlement};

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub sent: u64,
    /// Failed for now; tried again later.
    pub retried: u64,
    /// Given up on: permanent failure or too many attempts.
    pub dead: u64,
    /// No longer applicable: the procedure left the stage the email was about.
    pub cancelled: u64,
    /// The mail server is unavailable: nothing is sent to it before this time, when one email
    /// probes whether it is back. `None` when it answered, or was not needed.
    pub server_down_until: Option<DateTime<Utc>>,
}

impl DispatchReport {
    /// Whether any email was sent, retried, given up or cancelled.
    fn did_something(&self) -> bool {
        self.sent + self.retried + self.dead + self.cancelled > 0
    }
}

/// The dispatcher's parts: how to send, what to say, and the retry policy.
pub struct Dispatcher {
    pub mailer: Box<dyn Mailer>,
    pub templates: Templates,
    pub from: Mailbox,
    pub settings: DispatcherSettings,
    /// This instance's name on the rows it claims.
    pub owner: String,
    /// The longest one send may take (the transport's timeouts): a row is sent only while its
    /// lease has at least this long to run, so no other dispatcher can take it mid-send.
    pub send_budget: TimeDelta,
    /// Rows sent at once: the SMTP pool's size (one connection each).
    pub concurrency: usize,
}

/// Why a row cannot be sent, ever (it becomes dead at once).
struct Undeliverable(String);

/// What to do with a row instead of sending it.
enum Instead {
    Dead(Undeliverable),
    /// It no longer applies (the procedure moved on): cancelled, with the reason.
    Cancel(String),
}

fn dead(reason: impl Into<String>) -> Instead {
    Instead::Dead(Undeliverable(reason.into()))
}

/// What a failure of the server costs the emails that met it.
#[derive(Debug, Clone, Copy)]
enum OnServerFailure {
    /// The sends that reveal an outage cost an attempt each: they were really tried, and an
    /// email that breaks every connection it is sent on (taken for an outage) still runs out
    /// of attempts instead of stopping the queue for ever.
    Attempt,
    /// A probe during a known outage costs nothing: it learns only that the outage goes on. The
    /// email waits `until` the next probe, so the next probe is another email.
    Defer { until: DateTime<Utc> },
}

/// How a wave ended.
#[derive(Debug, Default)]
struct WaveEnd {
    /// At least one email reached the mailer.
    tried: bool,
    /// The first failure of the server, if any: the pass stops.
    server_failure: Option<String>,
}

impl Dispatcher {
    pub fn from_settings(app: &Accession) -> Result<Dispatcher, AppError> {
        let mail = &app.settings.mail;
        let mailer = crate::notify::mailer_from_settings(mail)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let templates = match &mail.templates_dir {
            Some(dir) => Templates::from_dir(dir).map_err(|e| AppError::Invalid(e.to_string()))?,
            None => Templates::embedded(),
        };
        let from = mail.from.parse::<Mailbox>().map_err(|e| {
            AppError::Invalid(format!("mail.from `{}` is not an address: {e}", mail.from))
        })?;
        let send_budget = TimeDelta::seconds(mail.send_budget_secs() as i64);
        let mut settings = app.settings.dispatcher.clone();
        settings.lease_secs = settings.lease_secs.clamp(1, super::MAX_LEASE_SECS);
        // `Settings::validate` says so at load; settings changed since (tests do) are checked
        // again here.
        if TimeDelta::seconds(settings.lease_secs as i64) <= send_budget {
            return Err(AppError::Invalid(format!(
                "dispatcher.lease_secs ({}) must be longer than one send may take ({} s: three \
                 times mail.smtp.timeout_secs)",
                settings.lease_secs,
                send_budget.num_seconds()
            )));
        }
        let concurrency = match mail.transport {
            crate::config::MailTransport::Smtp => mail.smtp.pool_max.max(1) as usize,
            crate::config::MailTransport::File => 4,
        };
        Ok(Dispatcher {
            mailer,
            templates,
            from,
            settings,
            owner: super::instance_name(),
            send_budget,
            concurrency,
        })
    }

    /// One pass: send every row due at `due_at` (normally now; `run-once --at` evaluates
    /// another time), in batches, until none is left or the server fails. During an outage it
    /// sends nothing until the probe is due, then one email first. Leases, backoffs and the
    /// outage's waits run on the real clock whatever `due_at` is.
    pub async fn dispatch(
        &self,
        app: &Accession,
        due_at: DateTime<Utc>,
    ) -> Result<DispatchReport, AppError> {
        let mut report = DispatchReport::default();
        let lease = TimeDelta::seconds(self.settings.lease_secs as i64);
        let batch = self.settings.batch_size.max(1);
        let server = self.mailer.describe();
        let mut outage = app.store().mail_outage(&server).await?;
        if let Some(known) = &outage {
            let real = app.now();
            // Checked before taking the probe, so that waiting passes only read.
            if real < known.probe_at
                || !app
                    .store()
                    .take_mail_probe(&server, real, real + lease)
                    .await?
            {
                tracing::debug!(%server, probe_at = %known.probe_at, "mail server unavailable: waiting");
                report.server_down_until = Some(known.probe_at.max(real));
                return Ok(report);
            }
        }
        let mut known = Known::default();
        'pass: loop {
            let real = app.now();
            let lease_until = real + lease;
            // A probe is one email; once the server has answered, whole batches again.
            let limit = if outage.is_some() { 1 } else { batch };
            let rows = app
                .store()
                .claim_outbox(due_at, real, &self.owner, lease_until, limit)
                .await?;
            if outage.is_some() && rows.is_empty() {
                // Nothing to probe with: the probe is due again as soon as there is.
                app.store().release_mail_probe(&server, real).await?;
                report.server_down_until = Some(real);
                break;
            }
            let n = rows.len() as u64;
            let rest = |from: usize| rows[from..].iter().map(|r| r.id).collect::<Vec<_>>();
            let mut i = 0;
            while i < rows.len() {
                // Never start a send the lease might not cover: give the rest back instead.
                if app.now() + self.send_budget >= lease_until {
                    app.store()
                        .outbox_release(&rest(i), &self.owner, app.now())
                        .await?;
                    continue 'pass;
                }
                let (width, on_server_failure) = match &outage {
                    None => (self.concurrency, OnServerFailure::Attempt),
                    Some(o) => (
                        1,
                        OnServerFailure::Defer {
                            until: app.now() + self.outage_wait(o.failed_probes + 1),
                        },
                    ),
                };
                // A wave: rows to send, as many as the transport has connections, sent at once;
                // their procedures read a few at a time, their outcomes recorded together.
                let end = self
                    .wave(
                        app,
                        &mut known,
                        (&rows, &mut i),
                        width,
                        on_server_failure,
                        &mut report,
                    )
                    .await?;
                if let Some(error) = end.server_failure {
                    // The server is unreachable or refusing us: the others would fail alike.
                    // They wait for it, unattempted, due now (not at a time being evaluated).
                    let now = app.now();
                    app.store()
                        .outbox_release(&rest(i), &self.owner, now)
                        .await?;
                    let probe_at = match (&outage, on_server_failure) {
                        (Some(_), OnServerFailure::Defer { until }) => {
                            app.store()
                                .mail_outage_goes_on(&server, until, &error)
                                .await?;
                            tracing::info!(%server, %error, probe_at = %until, "mail server still unavailable");
                            until
                        }
                        _ => {
                            let probe_at = now + self.outage_wait(0);
                            app.store()
                                .open_mail_outage(&server, now, probe_at, &error)
                                .await?;
                            tracing::warn!(
                                %server,
                                %error,
                                %probe_at,
                                "mail server unavailable: the queue waits for it"
                            );
                            probe_at
                        }
                    };
                    report.server_down_until = Some(probe_at);
                    break 'pass;
                }
                if end.tried
                    && let Some(over) = outage.take()
                {
                    app.store().close_mail_outage(&server).await?;
                    tracing::info!(%server, since = %over.since, "mail server back: sending the queue");
                }
            }
            if n < limit {
                break;
            }
        }
        if report.did_something() {
            tracing::info!(
                sent = report.sent,
                retried = report.retried,
                dead = report.dead,
                cancelled = report.cancelled,
                mailer = %self.mailer.describe(),
                "dispatch pass"
            );
        }
        Ok(report)
    }

    /// The wait before probing a server found down, after `failed_probes` probes found it
    /// still down: retry_base_secs, doubling with each, up to retry_max_secs. No jitter: every
    /// dispatcher shares the one outage, and only one takes each probe.
    fn outage_wait(&self, failed_probes: u32) -> TimeDelta {
        backoff(
            self.settings.retry_base_secs,
            self.settings.retry_max_secs,
            failed_probes.saturating_add(1),
            0.5,
        )
    }

    /// Prepare, send and record one wave, taking rows from `rows[*next..]` until `width` are
    /// ready to send (rows settled without sending, cancelled or dead, do not count).
    async fn wave(
        &self,
        app: &Accession,
        known: &mut Known,
        (rows, next): (&[OutboxRow], &mut usize),
        width: usize,
        on_server_failure: OnServerFailure,
        report: &mut DispatchReport,
    ) -> Result<WaveEnd, AppError> {
        let now = app.now();
        // Read fresh for each wave, so a procedure that moved on since is seen as it is now.
        known.procedures.clear();
        let mut outcomes = Vec::new();
        let mut sending = Vec::with_capacity(width);
        while *next < rows.len() && sending.len() < width {
            if procedure_of(&rows[*next]).is_some_and(|id| !known.procedures.contains_key(&id)) {
                // The procedures of this row and the next few, in one query.
                let ahead = &rows[*next..(*next + self.concurrency).min(rows.len())];
                let ids: Vec<ProcedureId> = ahead.iter().filter_map(procedure_of).collect();
                let found = app.store().procedures_by_id(&ids).await?;
                known.procedures.extend(found);
            }
            let row = &rows[*next];
            *next += 1;
            match self.prepare(app, known, row, now).await? {
                Ok(prepared) => sending.push((row, prepared)),
                Err(Instead::Dead(Undeliverable(reason))) => {
                    tracing::warn!(outbox = row.id, %reason, "undeliverable email");
                    let dead = Settlement::Failed {
                        error: reason,
                        retry_at: None,
                    };
                    outcomes.push((row, dead));
                }
                Err(Instead::Cancel(reason)) => {
                    tracing::info!(outbox = row.id, %reason, "email no longer applies");
                    outcomes.push((row, Settlement::Cancelled { reason }));
                }
            }
        }
        let sends = sending.iter().map(|(_, prepared)| async move {
            let started = std::time::Instant::now();
            let result = self.mailer.send(&prepared.message).await;
            (result, started.elapsed())
        });
        let results = futures_util::future::join_all(sends).await;
        let mut end = WaveEnd::default();
        for ((row, prepared), (result, elapsed)) in sending.iter().zip(results) {
            app.metrics.email_seconds.observe(elapsed.as_secs_f64());
            end.tried = true;
            if let Err(e) = &result
                && e.server
                && end.server_failure.is_none()
            {
                end.server_failure = Some(e.to_string());
            }
            let settlement =
                self.sent_or_failed(app, row, prepared, result, elapsed, on_server_failure);
            outcomes.push((row, settlement));
        }
        let settlements: Vec<(i64, Settlement)> = outcomes
            .iter()
            .map(|(row, s)| (row.id, s.clone()))
            .collect();
        let recorded = app.store().outbox_settle(&self.owner, &settlements).await?;
        for ((row, settlement), recorded) in outcomes.iter().zip(recorded) {
            let sent = matches!(settlement, Settlement::Sent { .. });
            // An email that went out was sent, whoever records it; anything else counts only
            // if this dispatcher still held the row.
            if sent && !recorded {
                // Should the lease have run out mid-send despite the budget, the Message-ID
                // lets the receiving side recognise the copy another dispatcher sends.
                tracing::warn!(outbox = row.id, "sent after this dispatcher's lease ended");
            } else if !recorded {
                continue;
            }
            let (count, label) = match settlement {
                Settlement::Sent { .. } => (&mut report.sent, OutboxStatus::Sent.as_str()),
                Settlement::Failed {
                    retry_at: Some(_), ..
                } => (&mut report.retried, "retried"),
                Settlement::Failed { retry_at: None, .. } => {
                    (&mut report.dead, OutboxStatus::Dead.as_str())
                }
                Settlement::Deferred { .. } => (&mut report.retried, "retried"),
                Settlement::Cancelled { .. } => {
                    (&mut report.cancelled, OutboxStatus::Cancelled.as_str())
                }
            };
            *count += 1;
            app.metrics.count(&app.metrics.emails, label);
        }
        Ok(end)
    }

    /// What sending `row` gave, to record: a transient failure is tried again after a backoff
    /// until the attempts run out; a permanent one is dead at once; a failure of the server
    /// during a known outage only waits.
    fn sent_or_failed(
        &self,
        app: &Accession,
        row: &OutboxRow,
        prepared: &Prepared,
        result: Result<(), crate::notify::SendError>,
        elapsed: std::time::Duration,
        on_server_failure: OnServerFailure,
    ) -> Settlement {
        match result {
            Ok(()) => {
                tracing::info!(
                    outbox = row.id,
                    kind = %row.kind,
                    institution = %row.recipient_institution,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "email sent"
                );
                Settlement::Sent {
                    addresses: prepared.addresses.clone(),
                    language: prepared.language,
                    at: app.now(),
                }
            }
            Err(e) => match on_server_failure {
                OnServerFailure::Defer { until } if e.server => {
                    tracing::info!(
                        outbox = row.id,
                        error = %e,
                        retry_at = %until,
                        "probe: the mail server is still unavailable"
                    );
                    Settlement::Deferred {
                        error: e.to_string(),
                        until,
                    }
                }
                _ => {
                    let attempts = row.attempts as u32 + 1;
                    let retry_at = (!e.permanent && attempts < self.settings.max_attempts)
                        .then(|| app.now() + self.backoff(attempts));
                    tracing::warn!(
                        outbox = row.id,
                        attempts,
                        error = %e,
                        retry_at = ?retry_at,
                        "email not sent"
                    );
                    Settlement::Failed {
                        error: e.to_string(),
                        retry_at,
                    }
                }
            },
        }
    }

    /// The wait before attempt `attempts + 1`: base × 2^(attempts − 1), capped, ±20% jitter so
    /// rows that failed together do not retry together.
    pub fn backoff(&self, attempts: u32) -> TimeDelta {
        backoff(
            self.settings.retry_base_secs,
            self.settings.retry_max_secs,
            attempts,
            fastrand::f64(),
        )
    }

    async fn prepare(
        &self,
        app: &Accession,
        known: &mut Known,
        row: &OutboxRow,
        now: DateTime<Utc>,
    ) -> Result<Result<Prepared, Instead>, AppError> {
        let kind = row.kind;
        if kind == NotificationKind::SignInLink {
            return self.sign_in_email(app, known, row, now).await;
        }
        let Ok(recipient_id) = InstitutionId::parse(row.recipient_institution.clone()) else {
            return Ok(Err(dead(format!(
                "`{}` is not an institution id",
                row.recipient_institution
            ))));
        };
        let Some(recipient) = known.institution(app, &recipient_id).await? else {
            return Ok(Err(dead(format!(
                "institution `{recipient_id}` does not exist"
            ))));
        };
        let mut to = Vec::new();
        for address in &recipient.emails {
            match address.parse::<Mailbox>() {
                Ok(mailbox) => to.push(mailbox),
                Err(e) => {
                    return Ok(Err(dead(format!(
                        "institution `{recipient_id}` has a bad address `{address}`: {e}"
                    ))));
                }
            }
        }
        if to.is_empty() {
            return Ok(Err(dead(format!(
                "institution `{recipient_id}` has no email address"
            ))));
        }
        // A row whose facts do not read will not read next time either.
        let stated = match row.facts() {
            Ok(stated) => stated,
            Err(e) => return Ok(Err(dead(e.to_string()))),
        };
        let (rendered, procedure_id) = match &stated {
            NotificationFacts::Procedure(stated) => {
                let facts = match self
                    .facts(app, known, kind, stated, &recipient, now)
                    .await?
                {
                    Ok(facts) => facts,
                    Err(e) => return Ok(Err(e)),
                };
                // A template that cannot render this row will not render it next time either:
                // the row is dead with the reason, and a coordinator retries it once the
                // template is mended.
                match self.templates.render(recipient.language, &facts) {
                    Ok(rendered) => (rendered, Some(facts.procedure_id)),
                    Err(e) => return Ok(Err(dead(e.to_string()))),
                }
            }
            NotificationFacts::Checkpoint(stated) => {
                match self
                    .checkpoint_email(app, known, stated, &recipient)
                    .await?
                {
                    Ok(rendered) => (rendered, None),
                    Err(e) => return Ok(Err(e)),
                }
            }
            NotificationFacts::SignIn(_) => {
                return Ok(Err(dead("a sign-in link's row names another kind")));
            }
        };
        let message = match build_message(
            &self.from,
            &to,
            &row.message_id,
            now,
            &rendered,
            &ExtraHeaders { procedure_id, kind },
        ) {
            Ok(message) => message,
            Err(e) => return Ok(Err(dead(e.to_string()))),
        };
        Ok(Ok(Prepared {
            message,
            addresses: recipient.emails.join(", "),
            language: recipient.language,
        }))
    }

    /// The email of a one-time sign-in link: to the person's own address (not their
    /// institution's), in their institution's language. A link used, expired or of a disabled
    /// account is not sent (cancelled); one this process cannot open (queued by an earlier run)
    /// is dead, saying so.
    async fn sign_in_email(
        &self,
        app: &Accession,
        known: &mut Known,
        row: &OutboxRow,
        now: DateTime<Utc>,
    ) -> Result<Result<Prepared, Instead>, AppError> {
        let stated = match row.facts() {
            Ok(NotificationFacts::SignIn(stated)) => stated,
            Ok(_) => return Ok(Err(dead("a sign-in link's row states other facts"))),
            Err(e) => return Ok(Err(dead(e.to_string()))),
        };
        let link = match app.sign_in_link_email(&stated).await? {
            Ok(link) => link,
            Err(reason) if reason.contains("another run") => return Ok(Err(dead(reason))),
            Err(reason) => return Ok(Err(Instead::Cancel(reason))),
        };
        let account = &link.account;
        let mailbox = match account.email.parse::<Mailbox>() {
            Ok(mailbox) => mailbox,
            Err(e) => {
                return Ok(Err(dead(format!(
                    "account {} has a bad address `{}`: {e}",
                    account.id, account.email
                ))));
            }
        };
        let language = match known.institution(app, &account.institution).await? {
            Some(i) => i.language,
            None => Language::En,
        };
        let email = SignInEmail {
            recipient_name: account.name.clone(),
            institution_name: known.name(app, &account.institution, language).await?,
            link: link.url,
            expires_at: link.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            minutes: app.settings.server.sign_in_link_lifetime().num_minutes(),
        };
        let rendered = match self.templates.render(language, &email) {
            Ok(rendered) => rendered,
            Err(e) => return Ok(Err(dead(e.to_string()))),
        };
        let message = match build_message(
            &self.from,
            &[mailbox],
            &row.message_id,
            now,
            &rendered,
            &ExtraHeaders {
                procedure_id: None,
                kind: NotificationKind::SignInLink,
            },
        ) {
            Ok(message) => message,
            Err(e) => return Ok(Err(dead(e.to_string()))),
        };
        Ok(Ok(Prepared {
            message,
            addresses: account.email.clone(),
            language,
        }))
    }

    /// The email of a signed checkpoint, with the checkpoint and its public key attached as the
    /// files its verify command names. A checkpoint whose signature does not hold under the key
    /// stated with it is never mailed (the row is dead, saying so): an auditor must be able to
    /// rely on what arrives.
    async fn checkpoint_email(
        &self,
        app: &Accession,
        known: &mut Known,
        stated: &CheckpointFacts,
        recipient: &Institution,
    ) -> Result<Result<RenderedEmail, Instead>, AppError> {
        let cp = &stated.checkpoint;
        let checked =
            crate::audit::checkpoint::parse_public_key(&stated.public_key, "its public key")
                .and_then(|key| cp.verify(&key));
        if let Err(e) = checked {
            return Ok(Err(dead(format!(
                "the checkpoint of {} row(s) signed at {} does not check out: {e}",
                cp.size, cp.time
            ))));
        }
        // As `accession audit checkpoint` prints it.
        let json = match serde_json::to_string_pretty(cp) {
            Ok(json) => format!("{json}\n"),
            Err(e) => return Ok(Err(dead(format!("the checkpoint cannot be written: {e}")))),
        };
        let base = app.settings.mail.base_url.trim_end_matches('/');
        let email = CheckpointEmail {
            recipient_name: known.name(app, &recipient.id, recipient.language).await?,
            size: cp.size,
            root: cp.root.clone(),
            time: cp.time.clone(),
            key_id: cp.key_id.clone(),
            public_key: stated.public_key.clone(),
            file: stated.file.clone(),
            public_key_file: stated.public_key_file.clone(),
            verify: stated.verify.clone(),
            json: json.clone(),
            link: format!("{base}/audit"),
        };
        let mut rendered = match self.templates.render(recipient.language, &email) {
            Ok(rendered) => rendered,
            Err(e) => return Ok(Err(dead(e.to_string()))),
        };
        rendered.attachments = vec![
            Attachment {
                file_name: stated.file.clone(),
                content_type: "application/json",
                body: json,
            },
            Attachment {
                file_name: stated.public_key_file.clone(),
                content_type: "text/plain",
                body: format!("{}\n", stated.public_key),
            },
        ];
        Ok(Ok(rendered))
    }

    /// What the email says: the facts the engine stated with the row, and names and titles in
    /// the recipient's language; or, when the email no longer applies, why.
    async fn facts(
        &self,
        app: &Accession,
        known: &mut Known,
        kind: NotificationKind,
        stated: &ProcedureFacts,
        recipient: &Institution,
        now: DateTime<Utc>,
    ) -> Result<Result<EmailFacts, Instead>, AppError> {
        let Some(procedure) = known.procedures.get(&stated.procedure).cloned() else {
            return Ok(Err(dead(format!(
                "procedure `{}` does not exist",
                stated.procedure
            ))));
        };
        if let Err(moved_on) = crate::engine::still_applies(kind, stated, &procedure) {
            return Ok(Err(Instead::Cancel(moved_on.to_string())));
        }
        let def = app.definition_of(&procedure.workflow.hash).await?;
        let stage_id = &stated.stage;
        let Some(stage) = def.stage(stage_id) else {
            return Ok(Err(dead(format!(
                "stage `{stage_id}` is not in the procedure's workflow"
            ))));
        };
        let language = recipient.language;
        let convention = known.convention(app, &procedure.convention).await?;
        let mut names = Vec::new();
        for id in &stage.responsible {
            names.push(known.name(app, id, language).await?);
        }
        let mut missing = Vec::new();
        if kind == NotificationKind::ApprovalRequested
            && let Some(rule) = &stage.approvals
        {
            for id in &rule.of {
                if !procedure.approvals.contains_key(id) || procedure.stage != *stage_id {
                    missing.push(known.name(app, id, language).await?);
                }
            }
        }
        let stage_zone = known.people(app).await?.zones.lead(&stage.responsible);
        let recipient_zone = recipient.time_zone;
        let due_on = stated.due_on;
        let overdue_days = match kind {
            NotificationKind::DeadlinePassed | NotificationKind::Escalation => due_on.map(|due| {
                (now.with_timezone(&stage_zone).date_naive() - due)
                    .num_days()
                    .max(0)
            }),
            _ => None,
        };
        let base = app.settings.mail.base_url.trim_end_matches('/');
        Ok(Ok(EmailFacts {
            kind,
            procedure_id: procedure.id.to_string(),
            state_name: app.settings.state_name(procedure.state.as_str(), language),
            convention_number: convention
                .as_ref()
                .map_or_else(|| procedure.convention.to_string(), |c| c.number.clone()),
            convention_title: convention
                .as_ref()
                .map_or_else(String::new, |c| c.title_in(language).to_string()),
            stage_id: stage.id.to_string(),
            stage_title: stage.title_in(language).to_string(),
            stage_description: stage.description_in(language).to_string(),
            recipient_name: known.name(app, &recipient.id, language).await?,
            responsible: names,
            approvers_missing: missing,
            due_on,
            deadline_local: due_on.and_then(|due| deadline_text(due, stage_zone, recipient_zone)),
            time_zone: recipient_zone.name().to_string(),
            overdue_days,
            // In words, never the workflow's source text (`after_due 7 days`).
            rule: stated
                .rule
                .as_deref()
                .map(|r| crate::locale::rule_in_words(r, language)),
            entry_into_force: stated.entry_into_force,
            deposited_on: stated.deposited_on,
            link: format!("{base}/procedures/{}", procedure.id),
        }))
    }
}

/// The procedure a row is about, as its facts name it (none for a checkpoint's).
fn procedure_of(row: &OutboxRow) -> Option<ProcedureId> {
    row.facts().ok()?.procedure().cloned()
}

struct Prepared {
    message: crate::notify::Message,
    addresses: String,
    language: Language,
}

/// Reference data read once per pass, and the procedures of the wave being sent.
#[derive(Default)]
struct Known {
    procedures: HashMap<ProcedureId, ProcedureState>,
    institutions: HashMap<InstitutionId, Option<Institution>>,
    conventions: HashMap<ConventionId, Option<Convention>>,
    people: Option<crate::app::People>,
}

impl Known {
    async fn institution(
        &mut self,
        app: &Accession,
        id: &InstitutionId,
    ) -> Result<Option<Institution>, AppError> {
        if !self.institutions.contains_key(id) {
            let found = app.store().institution(id).await?;
            self.institutions.insert(id.clone(), found);
        }
        Ok(self.institutions[id].clone())
    }

    async fn convention(
        &mut self,
        app: &Accession,
        id: &ConventionId,
    ) -> Result<Option<Convention>, AppError> {
        if !self.conventions.contains_key(id) {
            let found = app.store().convention(id).await?;
            self.conventions.insert(id.clone(), found);
        }
        Ok(self.conventions[id].clone())
    }

    /// An institution's name in `language` (Russian for Kyrgyz readers when there is no Kyrgyz
    /// form), or its id when it is unknown.
    async fn name(
        &mut self,
        app: &Accession,
        id: &InstitutionId,
        language: Language,
    ) -> Result<String, AppError> {
        Ok(match self.institution(app, id).await? {
            Some(i) => i.name_in(language).to_string(),
            None => id.to_string(),
        })
    }

    /// The institutions' time zones, as the engine plans with them.
    async fn people(&mut self, app: &Accession) -> Result<&crate::app::People, AppError> {
        if self.people.is_none() {
            self.people = Some(app.people().await?);
        }
        Ok(self.people.as_ref().expect("just set"))
    }
}

/// "2024-05-01 24:00 Asia/Bishkek (2024-05-01 20:00 Europe/Paris)": the end of the due day in
/// the stage's zone, and in the recipient's when it differs.
fn deadline_text(due: NaiveDate, stage_zone: Tz, recipient_zone: Tz) -> Option<String> {
    let instant = crate::engine::deadline_instant(due, stage_zone)?;
    let own = format!("{due} 24:00 {}", stage_zone.name());
    if stage_zone == recipient_zone {
        return Some(own);
    }
    let there = instant.with_timezone(&recipient_zone);
    Some(format!(
        "{own} ({} {})",
        there.format("%Y-%m-%d %H:%M"),
        recipient_zone.name()
    ))
}

/// base × 2^(attempts − 1), at most `max`, scaled by a factor in [0.8, 1.2) from `unit` ∈ [0, 1).
fn backoff(base_secs: u64, max_secs: u64, attempts: u32, unit: f64) -> TimeDelta {
    const MAX: u64 = crate::config::MAX_RETRY_SECS;
    let exponent = attempts.saturating_sub(1).min(30);
    let raw = base_secs
        .max(1)
        .saturating_mul(1u64 << exponent)
        .min(max_secs.clamp(1, MAX));
    let jittered = raw as f64 * (0.8 + 0.4 * unit);
    TimeDelta::milliseconds((jittered * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let exact = |attempts| backoff(60, 3600, attempts, 0.5).num_seconds();
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 7, 8].map(exact),
            [60, 120, 240, 480, 960, 1920, 3600, 3600]
        );
        assert_eq!(backoff(60, 3600, 1, 0.0).num_seconds(), 48);
        assert!(backoff(60, 3600, 1, 0.999_999).num_seconds() < 72);
        // Huge attempt counts or settings neither overflow nor exceed the caps.
        assert!(backoff(60, 3600, u32::MAX, 0.999).num_seconds() <= 4320);
        assert!(backoff(u64::MAX, u64::MAX, u32::MAX, 0.999).num_seconds() <= 7 * 86_400 * 6 / 5);
    }

    #[test]
    fn the_deadline_is_shown_in_the_recipients_zone_when_it_differs() {
        let due: NaiveDate = "2024-05-01".parse().unwrap();
        assert_eq!(
            deadline_text(due, chrono_tz::Asia::Bishkek, chrono_tz::Europe::Paris).unwrap(),
            "2024-05-01 24:00 Asia/Bishkek (2024-05-01 20:00 Europe/Paris)"
        );
        assert_eq!(
            deadline_text(due, chrono_tz::Asia::Bishkek, chrono_tz::Asia::Bishkek).unwrap(),
            "2024-05-01 24:00 Asia/Bishkek"
        );
    }
}
