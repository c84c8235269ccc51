//! `scheduler run-once` and `outbox list|show|retry`: the background work, run by hand or from an
//! external cron, and the outbox as coordinators see it.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use clap::Subcommand;

use super::Cli;
use super::output::{outln, print_json, table, time};
use crate::app::{Accession, AppError};
use crate::scheduler::{Dispatcher, SchedulerOptions, repeat, tick};
use crate::store::OutboxStatus;

#[derive(Debug, Subcommand)]
pub enum SchedulerCmd {
    /// Run the scheduler (timers, and the signed checkpoints of `audit.*`) and the dispatcher
    /// until Ctrl-C or SIGTERM, each every `interval_secs`
    /// (`scheduler.*`, `dispatcher.*`; either can be switched off with `enabled = false`). The
    /// pass in progress finishes before the process exits.
    Run,
    /// Fire the due timers, make the signed checkpoint if one is due (`audit.*`) and send the
    /// outbox once, then exit (for an external cron, or to see what a workflow's reminders do
    /// before going live). Running it again at the same time sends nothing new.
    RunOnce {
        /// Act as if it were this time: RFC 3339 (`2024-05-02T09:00:00+06:00`) or a date
        /// (`2024-05-02`, the start of that day in `calendar.time_zone`). Default: now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}

/// `--status`, one of the stored names (listed in the help).
fn outbox_status() -> impl clap::builder::TypedValueParser<Value = OutboxStatus> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(OutboxStatus::ALL.map(OutboxStatus::as_str)).map(
        |name| match OutboxStatus::parse(&name) {
            Some(status) => status,
            None => unreachable!("clap accepts only the listed names"),
        },
    )
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// The latest emails, newest first.
    List {
        /// Only the emails in this state.
        #[arg(long, value_parser = outbox_status())]
        status: Option<OutboxStatus>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// One email: recipients, attempts, the last error and what it says.
    Show {
        /// The email's number, as `outbox list` shows it.
        id: i64,
    },
    /// Put a dead email (or, with --all-dead, every dead one) back in the queue.
    Retry {
        /// The email's number, as `outbox list` shows it.
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        id: Option<i64>,
        /// Every dead email instead of one.
        #[arg(long)]
        all_dead: bool,
    },
}

impl OutboxCmd {
    /// Whether the command only reads (and so works on a read-only database).
    pub fn reads_only(&self) -> bool {
        matches!(self, OutboxCmd::List { .. } | OutboxCmd::Show { .. })
    }
}

/// A `--at` value: an RFC 3339 instant, or a date taken as the start of that day in `tz`.
pub fn parse_at(text: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, AppError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(t) = tz
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
    {
        return Ok(t.with_timezone(&Utc));
    }
    Err(AppError::Invalid(format!(
        "--at `{text}` is neither an RFC 3339 time (2024-05-02T09:00:00+06:00) nor a date \
         (2024-05-02)"
    )))
}

pub async fn scheduler(app: &Accession, cli: &Cli, cmd: &SchedulerCmd) -> Result<u8, AppError> {
    let at = match cmd {
        SchedulerCmd::Run => return run_until_stopped(app).await,
        SchedulerCmd::RunOnce { at } => at,
    };
    let now = match at {
        Some(text) => parse_at(text, app.settings.calendar.time_zone)?,
        None => app.now(),
    };
    if now > app.now() {
        eprintln!(
            "warning: evaluating {} ahead of now: timers due by then fire now and their emails \
             are sent for real; rehearse a workflow on a copy of the database",
            now.to_rfc3339()
        );
    }
    let dispatcher = Dispatcher::from_settings(app)?;
    let options = SchedulerOptions::from_settings(&app.settings.scheduler);
    let timers = tick(app, &options, now).await?;
    // Made on the real clock whatever `--at` says (a signature states when it was made), before
    // the dispatch so that its emails go out in this run; a failure to make it does not keep the
    // timers' emails back.
    let checkpoint = app.checkpoint_if_due().await;
    let mail = dispatcher.dispatch(app, now).await?;
    let checkpoint = checkpoint?;
    if cli.json {
        print_json(&serde_json::json!({
            "at": now,
            "timers": timers,
            "checkpoint": checkpoint,
            "outbox": mail,
        }));
    } else {
        if let Some(made) = &checkpoint {
            outln!(
                "checkpoint {} made: {} row(s), root {}; queued for {} auditor institution(s)",
                made.id,
                made.checkpoint.size,
                made.checkpoint.root,
                made.mailed_to.len()
            );
        }
        outln!(
            "at {}: {} timer(s) fired, {} dropped, {} failed; {} email(s) sent, {} to retry, {} dead",
            time(now),
            timers.fired,
            timers.dropped,
            timers.failed,
            mail.sent,
            mail.retried,
            mail.dead
        );
        if let Some(until) = mail.server_down_until {
            outln!(
                "the mail server is unavailable: emails wait for it (no attempts spent); the next \
                 try is at {}",
                time(until)
            );
        }
    }
    Ok(if timers.failed > 0 { 1 } else { 0 })
}

/// The long-running form: both passes on their intervals until a signal.
async fn run_until_stopped(app: &Accession) -> Result<u8, AppError> {
    let stop_signal = shutdown_signal();
    let (scheduler, dispatcher) = (&app.settings.scheduler, &app.settings.dispatcher);
    if !scheduler.enabled && !dispatcher.enabled {
        return Err(AppError::Invalid(
            "scheduler.enabled and dispatcher.enabled are both false: nothing to run".into(),
        ));
    }
    let options = SchedulerOptions::from_settings(scheduler);
    let sender = Dispatcher::from_settings(app)?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let every = |secs: u64| std::time::Duration::from_secs(secs.max(1));
    let timers = async {
        if scheduler.enabled {
            repeat(
                "scheduler",
                every(scheduler.interval_secs),
                stop.clone(),
                || tick(app, &options, app.now()),
            )
            .await;
        }
    };
    let mail = async {
        if dispatcher.enabled {
            repeat(
                "dispatcher",
                every(dispatcher.interval_secs),
                stop.clone(),
                || sender.dispatch(app, app.now()),
            )
            .await;
        }
    };
    // Signed checkpoints of the history log, mailed to the auditors, as `serve` makes them.
    let checkpoints = async {
        if scheduler.enabled {
            repeat(
                "checkpoint",
                every(scheduler.interval_secs),
                stop.clone(),
                || app.checkpoint_if_due(),
            )
            .await;
        }
    };
    let signal = async {
        stop_signal.await;
        let _ = stop_tx.send(true);
    };
    outln!(
        "scheduler {} (every {} s), dispatcher {} (every {} s, {}); Ctrl-C to stop",
        if scheduler.enabled { "on" } else { "off" },
        scheduler.interval_secs,
        if dispatcher.enabled { "on" } else { "off" },
        dispatcher.interval_secs,
        sender.mailer.describe()
    );
    tokio::join!(timers, mail, checkpoints, signal);
    outln!("stopped");
    Ok(0)
}

/// Ctrl-C, or SIGTERM where there is one. The handlers are installed when this is called, not
/// when the future is first awaited: a signal that comes while the process is still starting is
/// kept (and stops it cleanly), not fatal.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            tokio::select! {
                _ = received(&mut terminate) => {}
                _ = received(&mut interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The next delivery of `signal`, or never when it could not be installed.
#[cfg(unix)]
async fn received(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

pub async fn outbox(app: &Accession, cli: &Cli, cmd: &OutboxCmd) -> Result<u8, AppError> {
    match cmd {
        OutboxCmd::List { status, limit } => {
            let operator = crate::engine::Actor::operator(super::operator_name());
            let (rows, _) = app.outbox_page(&operator, *status, None, *limit).await?;
            if cli.json {
                print_json(&rows);
            } else {
                table(
                    &[
                        "ID",
                        "STATUS",
                        "KIND",
                        "TO",
                        "PROCEDURE",
                        "TRIES",
                        "WHEN",
                        "ERROR",
                    ],
                    rows.iter().map(|r| {
                        vec![
                            r.id.to_string(),
                            r.status.as_str().to_string(),
                            r.kind.to_string(),
                            r.recipient_institution.clone(),
                            r.procedure.clone().unwrap_or_default(),
                            r.attempts.to_string(),
                            time(r.sent_at.unwrap_or(r.next_attempt_at)),
                            r.last_error.clone().unwrap_or_default(),
                        ]
                    }),
                );
            }
            Ok(0)
        }
        OutboxCmd::Show { id } => {
            let operator = crate::engine::Actor::operator(super::operator_name());
            let row = app.outbox_row(&operator, *id).await?;
            if cli.json {
                print_json(&row);
            } else {
                outln!("id:           {}", row.id);
                outln!("status:       {}", row.status.as_str());
                outln!("kind:         {}", row.kind);
                outln!("to:           {}", row.recipient_institution);
                if let Some(a) = &row.recipient_address {
                    outln!("addresses:    {a}");
                }
                if let Some(l) = &row.language {
                    outln!("language:     {l}");
                }
                outln!("procedure:    {}", row.procedure.as_deref().unwrap_or("-"));
                outln!("message-id:   {}", row.message_id);
                outln!("attempts:     {}", row.attempts);
                outln!("created:      {}", time(row.created_at));
                match row.sent_at {
                    Some(t) => outln!("sent:         {}", time(t)),
                    None => outln!("next attempt: {}", time(row.next_attempt_at)),
                }
                if let Some(e) = &row.last_error {
                    outln!("last error:   {e}");
                }
                outln!("facts:        {}", row.payload);
            }
            Ok(0)
        }
        OutboxCmd::Retry { id, all_dead } => {
            let operator = crate::engine::Actor::operator(super::operator_name());
            let n = match (id, *all_dead) {
                (Some(id), false) => {
                    app.retry_email(&operator, *id).await?;
                    1
                }
                _ => app.retry_dead_emails(&operator).await?,
            };
            if cli.json {
                print_json(&serde_json::json!({ "requeued": n }));
            } else {
                outln!("{n} email(s) back in the queue");
            }
            Ok(0)
        }
    }
}
