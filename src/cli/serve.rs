//! `accession serve`: the HTTP API, the scheduler and the dispatcher in one process, each of
//! which configuration can switch off (so roles can run apart against one PostgreSQL). Ctrl-C or
//! SIGTERM: stop accepting, finish the requests in flight and the current passes, exit 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::Cli;
use super::background::shutdown_signal;
use super::output::outln;
use crate::app::{Accession, AppError};
use crate::engine::Role;
use crate::scheduler::{Dispatcher, SchedulerOptions, repeat, tick};

/// The demo's tokens: one per role, for the institutions of the seed.
const DEMO_TOKENS: [(&str, Role, &str); 4] = [
    ("moj", Role::Ministry, "demo: Ministry of Justice"),
    ("mfa", Role::Coordinator, "demo: MFA treaty department"),
    ("mfa", Role::Auditor, "demo: auditor"),
    ("mfa", Role::Admin, "demo: administrator"),
];

/// The demo's people: one account per role, for the institutions of the seed.
const DEMO_ACCOUNTS: [(&str, Role, &str, &str); 4] = [
    (
        "moj",
        Role::Ministry,
        "Aigul Sydykova",
        "clerk@moj.demo.example",
    ),
    (
        "mfa",
        Role::Coordinator,
        "Bakyt Osmonov",
        "coordinator@mfa.demo.example",
    ),
    (
        "mfa",
        Role::Auditor,
        "Chynara Abdyldaeva",
        "auditor@mfa.demo.example",
    ),
    (
        "mfa",
        Role::Admin,
        "Daniyar Toktogulov",
        "admin@mfa.demo.example",
    ),
];

pub async fn run(
    mut app: Accession,
    cli: &Cli,
    bind: Option<SocketAddr>,
    demo: bool,
) -> Result<u8, AppError> {
    let _ = cli;
    // Listen for Ctrl-C and SIGTERM before anything else, so one during start-up is not fatal.
    let stop_signal = shutdown_signal();
    let server = app.settings.server.clone();
    let bind = bind.unwrap_or(server.bind);
    // Everything that can refuse the settings comes before the demo is loaded and the port
    // taken: "listening on" means the process will serve.
    let options = SchedulerOptions::from_settings(&app.settings.scheduler);
    let sender = Dispatcher::from_settings(&app)?;
    if demo {
        // The operator reads every procedure: is there any at all?
        let any = app
            .procedures(
                &crate::engine::Actor::operator(super::operator_name()),
                &crate::app::ListRequest {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await?;
        if any.items.is_empty() {
            let summary = app.demo().await?;
            outln!(
                "demo loaded: {} procedures ({})",
                summary.procedures_created.len(),
                summary.procedures_created.join(", ")
            );
        } else {
            outln!("the database already has procedures: the demo data is not loaded again");
        }
    }
    let listener = if server.enabled {
        Some(
            TcpListener::bind(bind)
                .await
                .map_err(|e| AppError::Io(format!("cannot listen on {bind}: {e}")))?,
        )
    } else {
        None
    };
    if let Some(listener) = &listener {
        let address = listener
            .local_addr()
            .map_err(|e| AppError::Io(e.to_string()))?;
        outln!("listening on http://{address}  (API under /api/v1, document at /api/openapi.json)");
        if app.settings.mail.base_url_follows_bind {
            if address.ip().is_unspecified() {
                tracing::warn!(
                    "listening on every address with mail.base_url unset: links in emails and \
                     the calendar feed say {}; set mail.base_url to the public address",
                    crate::config::address_of(address)
                );
            }
            app.settings.mail.base_url = crate::config::address_of(address);
        }
    }
    let app = Arc::new(app);
    if demo {
        outln!("tokens (shown once; only their hashes are kept):");
        for (institution, role, name) in DEMO_TOKENS {
            let institution = institution
                .parse()
                .map_err(|e: crate::ids::InvalidId| AppError::Invalid(e.to_string()))?;
            let token = app
                .create_token(
                    &crate::engine::Actor::operator(super::operator_name()),
                    &institution,
                    role,
                    name,
                )
                .await?;
            outln!("  {:<12} {institution:<4} {}", role.as_str(), token.token);
        }
        let operator = crate::engine::Actor::operator(super::operator_name());
        let base = app.settings.mail.base_url.trim_end_matches('/').to_string();
        outln!(
            "people (sign in at {base}/sign-in with one of these addresses, \"Email me a sign-in link\"):"
        );
        for (institution, role, name, email) in DEMO_ACCOUNTS {
            let institution = institution
                .parse()
                .map_err(|e: crate::ids::InvalidId| AppError::Invalid(e.to_string()))?;
            match app
                .create_account(&operator, name, email, &institution, role)
                .await
            {
                Ok(_) | Err(AppError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            // The address first: the token lines above are read by role (`$1 == "admin"`).
            outln!(
                "  {email:<30} {:<12} {institution:<4} {name}",
                role.as_str()
            );
        }
        match app.settings.mail.transport {
            crate::config::MailTransport::File => outln!(
                "the link arrives as an email file in {} (open the newest .eml, follow the link)",
                app.settings.mail.outbox_dir.display()
            ),
            _ => outln!("the link is mailed to that address"),
        }
    }

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let scheduler = &app.settings.scheduler;
    let dispatcher = &app.settings.dispatcher;
    let every = |secs: u64| Duration::from_secs(secs.max(1));
    let timers = async {
        if scheduler.enabled {
            repeat(
                "scheduler",
                every(scheduler.interval_secs),
                stop.clone(),
                || tick(&app, &options, app.now()),
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
                || sender.dispatch(&app, app.now()),
            )
            .await;
        }
    };
    // The stored verification state of the history chains kept current: the chains written
    // since the last result, a thousand at a time (the audit page reads the result).
    let audit = async {
        if scheduler.enabled {
            repeat(
                "audit",
                every(scheduler.interval_secs),
                stop.clone(),
                || app.verify_recent_history(1000),
            )
            .await;
        }
    };
    // Signed checkpoints of the history log, as often as `audit.checkpoint_every_secs`, each
    // queued by email to the auditor institutions in the transaction that keeps it.
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
    let http = async {
        if let Some(listener) = listener {
            let mut stopping = stop.clone();
            let shutdown = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            if let Err(e) = crate::server::serve(Arc::clone(&app), listener, shutdown).await {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        }
    };
    let signal = async {
        stop_signal.await;
        tracing::info!("stopping: finishing the requests in flight and the current passes");
        let _ = stop_tx.send(true);
    };
    tokio::join!(http, timers, mail, audit, checkpoints, signal);
    outln!("stopped");
    Ok(0)
}
