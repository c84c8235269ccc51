//! Command-line interface: parse, call the application, print a table for people or JSON with
//! `--json`. No rules live here.

mod accounts;
mod audit;
mod background;
mod calendar;
mod chart;
mod output;
mod procedures;
mod serve;
mod tokens;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::app::{Accession, AppError, check_files, read_institution_file, workflow_files};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::engine::Actor;
use crate::ids::{ProcedureId, WorkflowId};
use crate::workflow::{DiagramFormat, KnownInstitutions, render_diagram};
use output::{out, outln, print_json, table};

#[derive(Debug, Parser)]
#[command(
    name = "accession",
    version,
    about = "Track how a State joins international conventions"
)]
pub struct Cli {
    /// A settings file that overrides the embedded defaults (same keys as config/default.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table (read commands), and an error as one JSON object on
    /// stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The language of messages to people: en, ru or ky (default: `ui.language` in the settings,
    /// English). `--json` output keeps its English keys.
    #[arg(long, global = true, env = "ACCESSION_LANG", value_name = "en|ru|ky", value_parser = parse_language)]
    pub lang: Option<crate::reference::Language>,
    #[command(subcommand)]
    pub command: Top,
}

#[derive(Debug, Subcommand)]
pub enum Top {
    /// Bring the database schema up to date.
    Migrate,
    /// Check, list and draw workflow definitions.
    #[command(subcommand)]
    Workflows(WorkflowsCmd),
    /// Import and list the States registry (code, names, Council of Europe membership).
    #[command(subcommand)]
    States(ReferenceCmd),
    /// Import and list the State's institutions.
    #[command(subcommand)]
    Institutions(ReferenceCmd),
    /// Import and list conventions.
    #[command(subcommand)]
    Conventions(ReferenceCmd),
    /// Start, inspect and act on procedures.
    #[command(subcommand)]
    Procedures(procedures::ProceduresCmd),
    /// Verify the hash-chained history.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Load the Kyrgyz demo data: institutions, conventions and six procedures (idempotent).
    Demo,
    /// Run the HTTP API, the scheduler and the mail dispatcher until Ctrl-C or SIGTERM.
    Serve {
        /// Address and port to listen on (default: `server.bind`, 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<std::net::SocketAddr>,
        /// Load the demo data into an empty database and print a token for each role.
        #[arg(long)]
        demo: bool,
    },
    /// Treaty date rules: entry into force for a deposit date.
    #[command(subcommand)]
    Calendar(calendar::CalendarCmd),
    /// The chart of signatures and ratifications of a convention (one row per State) or of a
    /// State (one row per convention), as the record stood on a day.
    Chart(chart::ChartArgs),
    /// Fire due deadlines, reminders and escalations, and send the outbox.
    #[command(subcommand)]
    Scheduler(background::SchedulerCmd),
    /// The emails: pending, sent and dead, and retrying dead ones.
    #[command(subcommand)]
    Outbox(background::OutboxCmd),
    /// Create, list and revoke the HTTP API's bearer tokens, and make their calendar feed keys.
    #[command(subcommand)]
    Tokens(tokens::TokensCmd),
    /// Officials' accounts: create, list and disable them, make a person's API token, and see
    /// and end page sessions.
    #[command(subcommand)]
    Accounts(accounts::AccountsCmd),
}

#[derive(Debug, Subcommand)]
pub enum WorkflowsCmd {
    /// Check workflow files, or the `*.toml` files of a folder (default: the workflows folder);
    /// exit 1 on any error.
    Check {
        /// Workflow files or folders of them (default: `workflows.dir`).
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Check institution ids against this institutions file instead of the database.
        #[arg(long, value_name = "FILE")]
        institutions: Option<PathBuf>,
    },
    /// List the workflows of the workflows folder.
    List,
    /// What moving the procedures of workflow `--workflow` from version FROM to version TO
    /// would do, writing nothing: where each would land and what its new stage still asks, or why
    /// it cannot move (a stage with no place in TO, a field TO does not declare, approvals that
    /// would lapse). Closed procedures stay on the version they ended on. With `--json`, one
    /// JSON object per procedure and line.
    MigratePlan {
        /// The version the procedures are on.
        from: u32,
        /// The version they would move to.
        to: u32,
        /// The workflow, by id (`accession workflows list`), e.g. `coe-accession`.
        #[arg(long)]
        workflow: WorkflowId,
        /// Where a stage goes, `OLD=NEW` (repeat for each); a stage not named keeps its id.
        #[arg(long = "map", value_name = "OLD=NEW")]
        map: Vec<String>,
    },
    /// Print a workflow's state machine.
    Diagram {
        /// The workflow, by id (`accession workflows list`); its newest version is drawn.
        id: WorkflowId,
        /// Mermaid source or Graphviz DOT.
        #[arg(long, value_enum, default_value = "mermaid")]
        format: DiagramFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReferenceCmd {
    /// Insert new and update changed entries from a TOML file.
    Import {
        /// The TOML file, in the form of the files under `config/demo/`.
        file: PathBuf,
    },
    /// List them.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Recompute every chain (or one procedure's) and the log; exit 1 when any is broken. With
    /// `--checkpoint`, also check its signature and that today's log extends the one it signed.
    Verify {
        /// Only this procedure's chain, e.g. `kg-ets-112` (default: every chain and the log).
        #[arg(long, conflicts_with = "checkpoint")]
        procedure: Option<ProcedureId>,
        /// A checkpoint (JSON) made before, as `audit checkpoint` prints it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The public key to check it with (default: `audit.public_key_file`, else the public
        /// half of the configured private key).
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Write a new Ed25519 key pair: FILE (the private key, mode 0600) and FILE.pub.
    Keygen {
        /// Where to write the private key; the public key goes beside it as FILE.pub.
        file: PathBuf,
    },
    /// Sign the log's size and root as they are now; record and print the checkpoint (JSON), and
    /// queue it by email to every institution that holds an auditor's token.
    Checkpoint {
        /// Record and print it, but email it to nobody.
        #[arg(long)]
        no_email: bool,
    },
    /// Print the inclusion proof (JSON) of a history row in the log a checkpoint signed.
    Prove {
        /// The procedure whose history row is proven, e.g. `kg-ets-112`.
        #[arg(long)]
        procedure: ProcedureId,
        /// The row's sequence (default: the procedure's newest).
        #[arg(long)]
        sequence: Option<i64>,
        /// The checkpoint (JSON) the proof is against, as `audit checkpoint` printed it.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The public key to check the checkpoint with (default: `audit.public_key_file`, else
        /// the public half of the configured private key).
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Check an inclusion proof against a checkpoint, without a database; exit 1 when it fails.
    CheckProof {
        /// The proof (JSON), as `audit prove` printed it.
        proof: PathBuf,
        /// The checkpoint (JSON) it claims to be in.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The public key file (`audit keygen` writes FILE.pub).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
}

/// `--lang`: one of the catalogues' languages.
fn parse_language(text: &str) -> Result<crate::reference::Language, String> {
    crate::reference::Language::parse(text.trim())
        .filter(|l| crate::locale::LANGUAGES.contains(l))
        .ok_or_else(|| format!("`{text}` is not a language of the messages; use en, ru or ky"))
}

impl Cli {
    /// The language of messages to people: `--lang` (or `ACCESSION_LANG`), else `ui.language`
    /// of the settings, else English.
    pub fn language(&self) -> crate::reference::Language {
        self.lang.unwrap_or_else(|| {
            Settings::load(self.config.as_deref()).map_or(crate::reference::Language::En, |s| {
                crate::locale::catalogue_language(s.ui.language)
            })
        })
    }
}

/// The one line an error ends the command with, in `language`: a refusal of the engine in the
/// reader's words, anything else as the application says it (with a translated lead).
pub fn error_line(e: &AppError, language: crate::reference::Language) -> String {
    let lead = crate::locale::text(language, "cli_error");
    match e {
        AppError::Refused(r) if language != crate::reference::Language::En => format!(
            "{lead}: {}",
            crate::locale::refusal(r, language, crate::locale::Names::default())
        ),
        other => format!("{lead}: {other}"),
    }
}

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACCESSION_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn open(cli: &Cli) -> Result<Accession, AppError> {
    let settings = Settings::load(cli.config.as_deref())?;
    output::show_times_in(settings.calendar.time_zone);
    Accession::open(settings, Arc::new(SystemClock)).await
}

/// For commands that only read: writes nothing, so they work on a read-only database.
async fn open_to_read(cli: &Cli) -> Result<Accession, AppError> {
    let settings = Settings::load(cli.config.as_deref())?;
    output::show_times_in(settings.calendar.time_zone);
    Accession::open_to_read(settings, Arc::new(SystemClock)).await
}

/// `open_to_read` when `reads_only`, else `open`.
async fn open_for(cli: &Cli, reads_only: bool) -> Result<Accession, AppError> {
    if reads_only {
        open_to_read(cli).await
    } else {
        open(cli).await
    }
}

/// Run one command; the exit code on success (0, or 1 when a check found problems).
pub async fn run(cli: &Cli) -> Result<u8, AppError> {
    match &cli.command {
        Top::Migrate => {
            let settings = Settings::load(cli.config.as_deref())?;
            let store = crate::store::Store::connect(&settings.database).await?;
            let pending = store.pending_migrations().await?;
            store.migrate().await?;
            if cli.json {
                print_json(&serde_json::json!({ "applied": pending }));
            } else if pending.is_empty() {
                outln!("database is up to date");
            } else {
                outln!(
                    "applied {} migration(s): {}",
                    pending.len(),
                    pending.join(", ")
                );
            }
            Ok(0)
        }
        Top::Workflows(cmd) => workflows(cli, cmd).await,
        Top::States(ReferenceCmd::Import { file }) => {
            let app = open(cli).await?;
            let s = app.import_states(file).await?;
            report_import(cli, "states", &s);
            Ok(0)
        }
        Top::States(ReferenceCmd::List) => {
            let app = open_to_read(cli).await?;
            let list = app.states().await?;
            if cli.json {
                print_json(&list);
            } else {
                let rows = list.iter().map(|s| {
                    vec![
                        s.code.to_string(),
                        s.name.clone(),
                        s.name_ru.clone(),
                        s.name_ky.clone(),
                        if s.coe_member {
                            "member".into()
                        } else {
                            "non-member".into()
                        },
                    ]
                });
                table(&["CODE", "NAME", "NAME (RU)", "NAME (KY)", "COE"], rows);
            }
            Ok(0)
        }
        Top::Institutions(ReferenceCmd::Import { file }) => {
            let app = open(cli).await?;
            let s = app.import_institutions(file).await?;
            report_import(cli, "institutions", &s);
            Ok(0)
        }
        Top::Institutions(ReferenceCmd::List) => {
            let app = open_to_read(cli).await?;
            let list = app.institutions().await?;
            if cli.json {
                print_json(&list);
            } else {
                let rows = list.iter().map(|i| {
                    vec![
                        i.id.to_string(),
                        i.name.clone(),
                        i.language.to_string(),
                        i.time_zone.name().to_string(),
                        i.emails.join(", "),
                        if i.coordinator {
                            "coordinator".into()
                        } else {
                            String::new()
                        },
                    ]
                });
                table(&["ID", "NAME", "LANG", "TIME ZONE", "EMAILS", "ROLE"], rows);
            }
            Ok(0)
        }
        Top::Conventions(ReferenceCmd::Import { file }) => {
            let app = open(cli).await?;
            let s = app.import_conventions(file).await?;
            report_import(cli, "conventions", &s);
            Ok(0)
        }
        Top::Conventions(ReferenceCmd::List) => {
            let app = open_to_read(cli).await?;
            let list = app.conventions().await?;
            if cli.json {
                print_json(&list);
            } else {
                let rows = list.iter().map(|c| {
                    vec![
                        c.id.to_string(),
                        c.number.clone(),
                        c.short_title.clone().unwrap_or_else(|| c.title.clone()),
                        c.general_entry_into_force
                            .map(|d| d.to_string())
                            .unwrap_or_default(),
                        format!(
                            "1st of month after {} months",
                            c.entry_into_force.months_after
                        ),
                        c.monitoring_body.clone().unwrap_or_default(),
                    ]
                });
                table(
                    &["ID", "NUMBER", "TITLE", "IN FORCE", "RULE", "MONITORING"],
                    rows,
                );
            }
            Ok(0)
        }
        Top::Procedures(cmd) => {
            let app = open_for(cli, cmd.reads_only()).await?;
            procedures::run(&app, cli, cmd).await
        }
        Top::Audit(AuditCmd::Verify {
            procedure: None,
            checkpoint: Some(file),
            public_key,
        }) => {
            let app = open_to_read(cli).await?;
            audit::verify_checkpoint(cli, &app, file, public_key.as_deref()).await
        }
        Top::Audit(AuditCmd::Verify { procedure, .. }) => {
            let app = open_to_read(cli).await?;
            // Only the broken chains are kept in the report: constant memory for any database.
            let report = app
                .verify_history(
                    &Actor::operator(operator_name()),
                    procedure.as_ref(),
                    crate::store::Verdicts::Broken,
                )
                .await?;
            if cli.json {
                print_json(&report);
            } else if !report.ok() {
                if let Some(b) = report.first_break() {
                    outln!("BROKEN {b}");
                }
                if let Some(what) = report.log.as_ref().and_then(|l| l.broken.as_ref()) {
                    outln!("BROKEN log: {what}");
                }
            } else {
                let log = match &report.log {
                    Some(l) => format!("; log of {} row(s), root {}", l.size, l.root),
                    None => String::new(),
                };
                outln!(
                    "OK: {} procedure(s), {} history row(s), every chain intact{log}",
                    report.checked,
                    report.rows
                );
            }
            Ok(if report.ok() { 0 } else { 1 })
        }
        Top::Audit(cmd) => audit::run(cli, cmd).await,
        Top::Serve { bind, demo } => {
            let app = open(cli).await?;
            serve::run(app, cli, *bind, *demo).await
        }
        Top::Calendar(cmd) => {
            let app = open_to_read(cli).await?;
            calendar::run(&app, cli, cmd).await
        }
        Top::Chart(args) => {
            let app = open_to_read(cli).await?;
            chart::run(&app, cli, args).await
        }
        Top::Scheduler(cmd) => {
            let app = open(cli).await?;
            background::scheduler(&app, cli, cmd).await
        }
        Top::Outbox(cmd) => {
            let app = open_for(cli, cmd.reads_only()).await?;
            background::outbox(&app, cli, cmd).await
        }
        Top::Tokens(cmd) => {
            let app = open_for(cli, cmd.reads_only()).await?;
            tokens::run(&app, cli, cmd).await
        }
        Top::Accounts(cmd) => {
            let app = open_for(cli, cmd.reads_only()).await?;
            accounts::run(&app, cli, cmd).await
        }
        Top::Demo => {
            let mut app = open(cli).await?;
            let s = app.demo().await?;
            if cli.json {
                print_json(&s);
            } else {
                report_import(cli, "states", &s.states);
                report_import(cli, "institutions", &s.institutions);
                report_import(cli, "conventions", &s.conventions);
                if !s.procedures_created.is_empty() {
                    outln!("procedures created: {}", s.procedures_created.join(", "));
                }
                if !s.procedures_existing.is_empty() {
                    outln!(
                        "procedures already there: {}",
                        s.procedures_existing.join(", ")
                    );
                }
            }
            Ok(0)
        }
    }
}

/// Print a failed command's error on stderr: one line for people, one JSON object with `--json`
/// (`{"error": {"type", "message", "exit_code", "did_you_mean"}}`, `type` as the API's problem
/// types name it). A name that was not found gets the closest known one, when there is one.
pub async fn report_error(cli: &Cli, e: &AppError) {
    let hint = match e {
        AppError::NotFound { what, id } => match open_to_read(cli).await {
            Ok(app) => app.did_you_mean(what, id).await.ok().flatten(),
            Err(_) => None,
        },
        _ => None,
    };
    if cli.json {
        let error = serde_json::json!({ "error": {
            "type": e.kind(),
            "message": e.to_string(),
            "exit_code": e.exit_code(),
            "did_you_mean": hint,
        }});
        eprintln!("{error}");
    } else {
        let line = error_line(e, cli.language());
        match hint {
            Some(close) => eprintln!("{line}; did you mean `{close}`?"),
            None => eprintln!("{line}"),
        }
    }
}

/// A command line clap could not read: clap's own message (help and version print as asked), or
/// with `--json` anywhere on the line the same as one JSON object; exit code 2.
pub fn report_usage_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shown || !std::env::args_os().any(|a| a == "--json") {
        e.exit();
    }
    let message = e.render().to_string();
    let error = serde_json::json!({ "error": {
        "type": "usage",
        "message": message.trim_end(),
        "exit_code": 2,
        "did_you_mean": null,
    }});
    eprintln!("{error}");
    std::process::ExitCode::from(2)
}

fn report_import(cli: &Cli, what: &str, s: &crate::store::ImportSummary) {
    if cli.json {
        print_json(s);
    } else {
        outln!(
            "{what}: {} inserted, {} updated, {} unchanged",
            s.inserted,
            s.updated,
            s.unchanged
        );
    }
}

async fn workflows(cli: &Cli, cmd: &WorkflowsCmd) -> Result<u8, AppError> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cmd {
        WorkflowsCmd::Check {
            paths,
            institutions,
        } => {
            let files = if paths.is_empty() {
                workflow_files(&settings.workflows.dir).map_err(AppError::Invalid)?
            } else {
                // A folder stands for the workflow files in it, as the workflows folder does.
                let mut files = Vec::new();
                for path in paths {
                    if path.is_dir() {
                        let found = workflow_files(path).map_err(AppError::Invalid)?;
                        if found.is_empty() {
                            return Err(AppError::Invalid(format!(
                                "{} has no workflow files (*.toml)",
                                path.display()
                            )));
                        }
                        files.extend(found);
                    } else {
                        files.push(path.clone());
                    }
                }
                files
            };
            let (known, source) = known_institutions(&settings, institutions.as_deref()).await?;
            match check_files(&files, &known) {
                Ok(defs) => {
                    if cli.json {
                        print_json(
                            &serde_json::json!({ "ok": true, "workflows": defs.iter().map(|d| serde_json::json!({"id": d.id, "version": d.version, "hash": d.content_hash})).collect::<Vec<_>>() }),
                        );
                    } else {
                        for (d, f) in defs.iter().zip(&files) {
                            outln!("ok  {}  {} v{}", f.display(), d.id, d.version);
                        }
                        outln!(
                            "{} workflow file(s) valid (institutions checked against {source})",
                            defs.len()
                        );
                    }
                    Ok(0)
                }
                Err(diagnostics) => {
                    if cli.json {
                        print_json(&serde_json::json!({ "ok": false, "errors": diagnostics }));
                    } else {
                        for d in &diagnostics {
                            eprintln!("{d}");
                        }
                        eprintln!("{} error(s)", diagnostics.len());
                    }
                    Ok(1)
                }
            }
        }
        WorkflowsCmd::List => {
            let files = workflow_files(&settings.workflows.dir).map_err(AppError::Invalid)?;
            let defs =
                check_files(&files, &KnownInstitutions::Unchecked).map_err(AppError::Workflows)?;
            if cli.json {
                print_json(&defs);
            } else {
                let rows = defs.iter().map(|d| {
                    vec![
                        d.id.to_string(),
                        d.version.to_string(),
                        d.stages.len().to_string(),
                        d.title.clone(),
                        d.content_hash[..12].to_string(),
                    ]
                });
                table(&["ID", "VERSION", "STAGES", "TITLE", "HASH"], rows);
            }
            Ok(0)
        }
        WorkflowsCmd::MigratePlan {
            from,
            to,
            workflow,
            map,
        } => {
            let map = crate::engine::migrate::parse_map(map).map_err(AppError::Invalid)?;
            let app = open_to_read(cli).await?;
            let operator = crate::engine::Actor::operator(operator_name());
            let (mut moves, mut stays, mut cannot) = (0u64, 0u64, 0u64);
            let mut rows: Vec<crate::app::PlannedMove> = Vec::new();
            app.migration_plan(&operator, workflow, *from, *to, &map, |page| {
                for m in &page {
                    match &m.outcome {
                        crate::app::MoveOutcome::Moves(_) => moves += 1,
                        crate::app::MoveOutcome::Stays { .. } => stays += 1,
                        crate::app::MoveOutcome::Cannot { .. } => cannot += 1,
                    }
                }
                if cli.json {
                    // One object per line, as the plan is read: flat memory at any size.
                    for m in &page {
                        outln!("{}", serde_json::to_string(m).unwrap_or_default());
                    }
                } else {
                    rows.extend(page);
                    if rows.len() >= 500 {
                        print_plan(&std::mem::take(&mut rows));
                    }
                }
            })
            .await?;
            if !cli.json {
                print_plan(&rows);
                outln!(
                    "{workflow} {from} -> {to}: {moves} would move, {stays} stay (closed), {cannot} cannot move"
                );
            }
            Ok(0)
        }
        WorkflowsCmd::Diagram { id, format } => {
            let files = workflow_files(&settings.workflows.dir).map_err(AppError::Invalid)?;
            let defs =
                check_files(&files, &KnownInstitutions::Unchecked).map_err(AppError::Workflows)?;
            let def = defs
                .iter()
                .filter(|d| &d.id == id)
                .max_by_key(|d| d.version)
                .ok_or_else(|| AppError::NotFound {
                    what: "workflow",
                    id: id.to_string(),
                })?;
            out!("{}", render_diagram(def, *format));
            Ok(0)
        }
    }
}

/// A page of a migration plan as a table.
fn print_plan(rows: &[crate::app::PlannedMove]) {
    use crate::app::MoveOutcome;
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    table(
        &[
            "PROCEDURE",
            "VERSION",
            "OUTCOME",
            "FROM",
            "TO",
            "STILL ASKS / WHY NOT",
        ],
        rows.iter().map(|m| match &m.outcome {
            MoveOutcome::Moves(l) => vec![
                m.procedure.to_string(),
                m.version.to_string(),
                "moves".into(),
                l.from_stage.to_string(),
                l.to_stage.to_string(),
                list(
                    l.fields_missing
                        .iter()
                        .map(|f| format!("field {f}"))
                        .chain(
                            l.approvals_missing
                                .iter()
                                .map(|i| format!("approval of {i}")),
                        )
                        .collect(),
                ),
            ],
            MoveOutcome::Stays { status } => vec![
                m.procedure.to_string(),
                m.version.to_string(),
                "stays".into(),
                "-".into(),
                "-".into(),
                format!("{status}"),
            ],
            MoveOutcome::Cannot { blockers } => vec![
                m.procedure.to_string(),
                m.version.to_string(),
                "CANNOT".into(),
                "-".into(),
                "-".into(),
                blockers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ],
        }),
    );
}

/// Institutions to check workflows against: a file if given; else the database's when it has
/// any (without creating a database); else the seed's.
async fn known_institutions(
    settings: &Settings,
    file: Option<&std::path::Path>,
) -> Result<(KnownInstitutions, String), AppError> {
    let from_file = |path: &std::path::Path| -> Result<(KnownInstitutions, String), AppError> {
        let ids = read_institution_file(path)?
            .into_iter()
            .map(|i| i.id)
            .collect();
        Ok((KnownInstitutions::Only(ids), path.display().to_string()))
    };
    if let Some(path) = file {
        return from_file(path);
    }
    if let Some(store) = crate::store::Store::connect_existing(&settings.database).await
        && let Ok(list) = store.institutions().await
        && !list.is_empty()
    {
        let ids = list.into_iter().map(|i| i.id).collect();
        return Ok((KnownInstitutions::Only(ids), "the database".into()));
    }
    from_file(&settings.demo.dir.join("institutions.toml"))
}

/// Who runs this command, for what it records: the operating-system user, from the environment
/// (`USER`, `LOGNAME`, `USERNAME`), else the owner of this process as the system's user list
/// names it (a service or cron job may run without those variables), else its user id.
pub(crate) fn operator_name() -> String {
    let from_env = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|u| !u.trim().is_empty());
    let user = from_env.or_else(process_owner);
    user.map_or_else(|| "cli:operator".to_string(), |u| format!("cli:{u}"))
}

/// The name of the user owning this process (Linux: `/proc/self`, `/etc/passwd`), or its id.
fn process_owner() -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let named = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|list| {
                list.lines().find_map(|line| {
                    let mut fields = line.split(':');
                    let name = fields.next()?;
                    let id = fields.nth(1)?;
                    (id.parse() == Ok(uid) && !name.is_empty()).then(|| name.to_string())
                })
            });
        Some(named.unwrap_or_else(|| format!("uid-{uid}")))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every command says what it is in `--help`.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("`{path}` {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                if sub.get_about().is_none() {
                    missing.push(format!("`{path} {}` (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "accession", &mut missing);
        assert!(missing.is_empty(), "without help:\n{}", missing.join("\n"));
    }
}
