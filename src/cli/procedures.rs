//! `accession procedures …`

use clap::{Args, Subcommand};

use super::Cli;
use super::output::{outln, print_json, table, time};
use crate::app::{Accession, AppError, ProcedureView};
use crate::engine::{Act, Command, Role, StartProcedure, Stated, Status};
use crate::ids::{
    ConventionId, FieldName, InstitutionId, ProcedureId, StageId, StateCode, Version, WorkflowId,
};
use crate::store::ProcedureFilter;

#[derive(Debug, Subcommand)]
pub enum ProceduresCmd {
    /// Open a procedure for one State and one convention (coordinators).
    Start {
        /// Procedure id; defaults to the State code and the convention, e.g. `kg-ets-112`.
        #[arg(long)]
        id: Option<ProcedureId>,
        /// ISO 3166-1 alpha-2 code of the State, e.g. KG.
        #[arg(long)]
        state: StateCode,
        /// The convention, by id (`accession conventions list`), e.g. `ets-112`.
        #[arg(long)]
        convention: ConventionId,
        /// The workflow it follows (`accession workflows list`): `coe-accession` for a State
        /// invited to accede, `coe-ratification` for a member State that signs and ratifies.
        #[arg(long, default_value = "coe-accession")]
        workflow: WorkflowId,
        #[command(flatten)]
        actor: ActorArgs,
        /// A note kept in the history with the opening.
        #[arg(long)]
        comment: Option<String>,
    },
    /// List procedures.
    List {
        /// Only those for this convention, e.g. `ets-112`.
        #[arg(long)]
        convention: Option<ConventionId>,
        /// Only those at this stage (a stage id of their workflow, e.g. `legal-review`).
        #[arg(long)]
        stage: Option<StageId>,
        /// active, suspended, withdrawn or completed.
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        /// Only those whose current stage this institution is responsible for.
        #[arg(long)]
        institution: Option<InstitutionId>,
        /// Only active procedures past their due date.
        #[arg(long)]
        overdue: bool,
        /// At most this many, by id (1 to 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue after a previous page: the cursor it printed.
        #[arg(long)]
        after: Option<String>,
    },
    /// The current stage, what may happen next and by whom, approvals, key dates, due date, timers.
    Show {
        /// The procedure, e.g. `kg-ets-112` (`procedures list` shows them).
        id: ProcedureId,
    },
    /// Move a running procedure (or, with `--all`, every one on a version) to another version
    /// of its workflow, recorded in its history with both versions and the map (coordinators).
    /// See `workflows migrate-plan` first: it shows what would move where, writing nothing.
    Migrate {
        /// The procedure to move; leave out with `--all`.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<ProcedureId>,
        /// The workflow version to move to.
        #[arg(long, value_name = "N")]
        to_version: u32,
        /// Where a stage goes, `OLD=NEW` (repeat for each); a stage not named keeps its id.
        #[arg(long = "map", value_name = "OLD=NEW")]
        map: Vec<String>,
        /// Every procedure of `--workflow` at `--from-version`: none moves unless all can.
        #[arg(long, requires_all = ["workflow", "from_version"])]
        all: bool,
        /// With `--all`: the workflow whose procedures move.
        #[arg(long)]
        workflow: Option<WorkflowId>,
        /// With `--all`: the version they are on now.
        #[arg(long, value_name = "N")]
        from_version: Option<u32>,
        /// The version you saw (`procedures show`); a stale one is refused with exit code 3.
        #[arg(long, value_name = "N")]
        expected_version: Option<i64>,
        #[command(flatten)]
        actor: ActorArgs,
    },
    /// Move to another stage.
    Advance {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The stage to move to: one the current stage leads to (`procedures show` lists them).
        #[arg(long, value_name = "STAGE")]
        to: StageId,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the move.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Approve the current stage for your institution.
    Approve {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the approval.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Record a field (a date as YYYY-MM-DD, a text, a document reference).
    Set {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The field, as the current stage declares it (`procedures show` lists them), e.g.
        /// `deposit_date`.
        field: FieldName,
        /// Its value: a date as YYYY-MM-DD, else the text or reference as it should be kept.
        value: String,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the value.
        #[arg(long)]
        comment: Option<String>,
        /// For a date of entry into force that is not the rule's: the depositary's publication
        /// it is taken from.
        #[arg(long)]
        source: Option<String>,
    },
    /// Add a comment to the history.
    Comment {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The comment, as it should be kept (quote it in the shell).
        text: String,
        #[command(flatten)]
        actor: VersionedActor,
    },
    /// Suspend: only resume and comments are accepted until it is resumed.
    Suspend {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// Why, kept in the history and shown on the procedure.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        actor: VersionedActor,
    },
    /// Resume a suspended procedure; the current stage's period runs again from now.
    Resume {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the resumption.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Withdraw: the procedure is closed.
    Withdraw {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// Why, kept in the history.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        actor: VersionedActor,
    },
    /// Record the Committee of Ministers' extension of the invitation to accede.
    ExtendInvitation {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The new last day of validity (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        until: chrono::NaiveDate,
        /// The reference of the Committee of Ministers' decision, as its record gives it.
        #[arg(long)]
        decision: String,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the extension.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Move the current stage's deadline later (the consultation of the Parties extended).
    ExtendDeadline {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The new last day (YYYY-MM-DD): later than the current deadline.
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        until: chrono::NaiveDate,
        /// Why, kept in the history.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        actor: VersionedActor,
    },
    /// Record a Party's objection in the consultation of the Parties.
    RaiseObjection {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The Party that objects, by its State code, e.g. `FR`.
        #[arg(long)]
        party: StateCode,
        /// What the objection says, as communicated.
        #[arg(long)]
        text: String,
        #[command(flatten)]
        actor: VersionedActor,
    },
    /// Record the withdrawal of a Party's objection.
    WithdrawObjection {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The Party whose objection is withdrawn, by its State code, e.g. `FR`.
        #[arg(long)]
        party: StateCode,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the withdrawal.
        #[arg(long)]
        comment: Option<String>,
    },
    /// The hash-chained history.
    History {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
    },
}

impl ProceduresCmd {
    /// Whether the command only reads (and so works on a read-only database).
    pub fn reads_only(&self) -> bool {
        matches!(
            self,
            ProceduresCmd::List { .. } | ProceduresCmd::Show { .. } | ProceduresCmd::History { .. }
        )
    }
}

fn parse_status(text: &str) -> Result<Status, String> {
    Status::parse(text).ok_or_else(|| {
        format!("`{text}` is not a status; use active, suspended, withdrawn or completed")
    })
}

#[derive(Debug, Args)]
pub struct ActorArgs {
    /// The institution you act for, by id (`accession institutions list`), e.g. `moj`. The
    /// command line trusts its operator: who may run it is who may reach the database.
    #[arg(long = "as", value_name = "INSTITUTION")]
    institution: InstitutionId,
    /// The role you act in; defaults to coordinator for the coordinating institution, ministry
    /// otherwise.
    #[arg(long, value_enum)]
    role: Option<Role>,
    /// Who acts, recorded in the history (default: the operating-system user). `--name` is
    /// the older spelling.
    #[arg(long = "actor", visible_alias = "name", value_name = "NAME")]
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VersionedActor {
    #[command(flatten)]
    actor: ActorArgs,
    /// The version you saw (`procedures show`); a stale one is refused with exit code 3.
    #[arg(long, value_name = "N")]
    expected_version: i64,
    /// The day the act took effect, when you record it late (YYYY-MM-DD): not after today, not
    /// before the procedure's previous act. Without it the act takes effect as it is recorded.
    #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
    effective: Option<chrono::NaiveDate>,
    /// The day is not known: `--effective` is the latest it can have been.
    #[arg(long, requires = "effective")]
    approximate: bool,
}

impl VersionedActor {
    fn stated(&self) -> Option<Stated> {
        self.effective.map(|on| Stated {
            on: Some(on),
            approximate: self.approximate,
        })
    }
}

async fn actor(app: &Accession, a: &ActorArgs) -> Result<crate::engine::Actor, AppError> {
    let name = a.name.clone().unwrap_or_else(super::operator_name);
    app.actor(&a.institution, a.role, &name).await
}

pub async fn run(app: &Accession, cli: &Cli, cmd: &ProceduresCmd) -> Result<u8, AppError> {
    let (id, versioned, act) = match cmd {
        ProceduresCmd::Start {
            id,
            state,
            convention,
            workflow,
            actor: a,
            comment,
        } => {
            let who = actor(app, a).await?;
            let id = match id {
                Some(id) => id.clone(),
                None => {
                    ProcedureId::parse(format!("{}-{}", state.as_str().to_lowercase(), convention))
                        .map_err(|e| AppError::Invalid(e.to_string()))?
                }
            };
            let cmd = StartProcedure {
                id,
                state: state.clone(),
                convention: convention.clone(),
                comment: comment.clone(),
            };
            let view = app.start(workflow, &cmd, &who).await?;
            print_view(cli, &view);
            return Ok(0);
        }
        ProceduresCmd::List {
            convention,
            stage,
            status,
            institution,
            overdue,
            limit,
            after,
        } => {
            let today = app.today();
            let request = crate::app::ListRequest {
                filter: ProcedureFilter {
                    state: None,
                    convention: convention.clone(),
                    stage: stage.clone(),
                    status: *status,
                    overdue_on: overdue.then_some(today),
                },
                responsible: institution.clone(),
                not_overdue: false,
                cursor: after.clone(),
                limit: *limit,
            };
            // The operator at the command line reads every procedure.
            let page = app
                .procedures(
                    &crate::engine::Actor::operator(super::operator_name()),
                    &request,
                )
                .await?;
            if let Some(next) = &page.next {
                eprintln!("more procedures follow: pass --after {next}");
            }
            let rows = page.items;
            if cli.json {
                print_json(&rows);
            } else {
                table(
                    &[
                        "ID",
                        "STATE",
                        "CONVENTION",
                        "STAGE",
                        "STATUS",
                        "DUE",
                        "VERSION",
                        "DEPOSIT",
                        "IN FORCE",
                    ],
                    rows.iter().map(|r| {
                        let p = &r.procedure;
                        let overdue = p.is_overdue(today);
                        vec![
                            p.id.to_string(),
                            p.state.to_string(),
                            p.convention.to_string(),
                            p.stage.to_string(),
                            p.status.to_string(),
                            p.due_on
                                .map(|d| {
                                    if overdue {
                                        format!("{d} OVERDUE")
                                    } else {
                                        d.to_string()
                                    }
                                })
                                .unwrap_or_else(|| "-".into()),
                            p.version.to_string(),
                            date(p.key_dates.deposited_on),
                            date(p.key_dates.entry_into_force()),
                        ]
                    }),
                );
            }
            return Ok(0);
        }
        ProceduresCmd::Migrate {
            id,
            to_version,
            map,
            all,
            workflow,
            from_version,
            expected_version,
            actor: a,
        } => {
            let who = actor(app, a).await?;
            let map = crate::engine::migrate::parse_map(map).map_err(AppError::Invalid)?;
            if *all {
                let (Some(workflow), Some(from)) = (workflow, from_version) else {
                    return Err(AppError::Invalid(
                        "--all needs --workflow and --from-version".into(),
                    ));
                };
                let moved = app
                    .migrate_all(&who, workflow, *from, *to_version, &map)
                    .await?;
                if cli.json {
                    print_json(&serde_json::json!({ "moved": moved }));
                } else {
                    outln!(
                        "moved {moved} procedure(s) of {workflow} from version {from} to {to_version}"
                    );
                }
                return Ok(0);
            }
            let Some(id) = id else {
                return Err(AppError::Invalid("name a procedure, or use --all".into()));
            };
            let view = app
                .migrate(&who, id, *to_version, &map, expected_version.map(Version))
                .await?;
            print_view(cli, &view);
            return Ok(0);
        }
        ProceduresCmd::Show { id } => {
            let operator = crate::engine::Actor::operator(super::operator_name());
            let view = app.view(&operator, id).await?;
            print_view(cli, &view);
            return Ok(0);
        }
        ProceduresCmd::History { id } => {
            let operator = crate::engine::Actor::operator(super::operator_name());
            let rows = app.history(&operator, id).await?;
            if cli.json {
                print_json(&rows);
            } else {
                table(
                    &[
                        "SEQ",
                        "RECORDED",
                        "TOOK EFFECT",
                        "ACTOR",
                        "COMMAND",
                        "FROM",
                        "TO",
                        "COMMENT",
                        "HASH",
                    ],
                    rows.iter().map(|r| {
                        vec![
                            r.sequence.to_string(),
                            time(r.at),
                            took_effect(r),
                            format!("{} ({})", r.actor_institution, r.actor_name),
                            r.command.clone(),
                            r.from_stage.clone().unwrap_or_default(),
                            r.to_stage.clone().unwrap_or_default(),
                            r.comment.clone().unwrap_or_default(),
                            r.hash[..12].to_string(),
                        ]
                    }),
                );
            }
            return Ok(0);
        }
        ProceduresCmd::Advance {
            id,
            to,
            actor,
            comment,
        } => (
            id,
            actor,
            Act::Advance {
                to: to.clone(),
                comment: comment.clone(),
            },
        ),
        ProceduresCmd::Approve { id, actor, comment } => (
            id,
            actor,
            Act::Approve {
                comment: comment.clone(),
            },
        ),
        ProceduresCmd::Set {
            id,
            field,
            value,
            actor,
            comment,
            source,
        } => (
            id,
            actor,
            Act::Record {
                field: field.clone(),
                value: value.clone(),
                comment: comment.clone(),
                source: source.clone(),
            },
        ),
        ProceduresCmd::Comment { id, text, actor } => {
            (id, actor, Act::Comment { text: text.clone() })
        }
        ProceduresCmd::Suspend { id, reason, actor } => (
            id,
            actor,
            Act::Suspend {
                reason: reason.clone(),
            },
        ),
        ProceduresCmd::Resume { id, actor, comment } => (
            id,
            actor,
            Act::Resume {
                comment: comment.clone(),
            },
        ),
        ProceduresCmd::Withdraw { id, reason, actor } => (
            id,
            actor,
            Act::Withdraw {
                reason: reason.clone(),
            },
        ),
        ProceduresCmd::ExtendInvitation {
            id,
            until,
            decision,
            actor,
            comment,
        } => (
            id,
            actor,
            Act::ExtendInvitation {
                until: *until,
                decision: decision.clone(),
                comment: comment.clone(),
            },
        ),
        ProceduresCmd::ExtendDeadline {
            id,
            until,
            reason,
            actor,
        } => (
            id,
            actor,
            Act::ExtendDeadline {
                until: *until,
                reason: reason.clone(),
            },
        ),
        ProceduresCmd::RaiseObjection {
            id,
            party,
            text,
            actor,
        } => (
            id,
            actor,
            Act::RaiseObjection {
                party: party.clone(),
                text: text.clone(),
            },
        ),
        ProceduresCmd::WithdrawObjection {
            id,
            party,
            actor,
            comment,
        } => (
            id,
            actor,
            Act::WithdrawObjection {
                party: party.clone(),
                comment: comment.clone(),
            },
        ),
    };
    let who = actor(app, &versioned.actor).await?;
    let cmd = Command {
        expected_version: Version(versioned.expected_version),
        act,
    };
    let view = app.act_stated(id, &cmd, versioned.stated(), &who).await?;
    print_view(cli, &view);
    Ok(0)
}

/// When a history row's act took effect, for the table: `as recorded`, the day, `≤ day
/// (day not known)`; `retrospective` when it was recorded later.
fn took_effect(r: &crate::audit::ChainRow) -> String {
    match r.effective_on {
        None => "as recorded".into(),
        Some(d) if r.effective_approximate => format!("≤ {d} (day not known), retrospective"),
        Some(d) if r.retrospective => format!("{d}, retrospective"),
        Some(d) => d.to_string(),
    }
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "-".into())
}

fn print_view(cli: &Cli, v: &ProcedureView) {
    if cli.json {
        print_json(v);
        return;
    }
    let p = &v.procedure;
    outln!(
        "{}  {} — {} ({})",
        p.id,
        v.convention_number,
        v.convention_title,
        p.state
    );
    outln!(
        "workflow    {} v{} — {}",
        p.workflow.id,
        p.workflow.version,
        v.workflow_title
    );
    outln!("status      {}   version {}", p.status, p.version);
    outln!(
        "stage       {} — {} (since {})",
        p.stage,
        v.stage_title,
        p.stage_entered_at.format("%Y-%m-%d")
    );
    outln!("responsible {}", join(&v.responsible));
    match p.due_on {
        Some(d) if v.overdue => outln!("due         {d}  OVERDUE"),
        Some(d) => outln!("due         {d}"),
        None => outln!("due         -"),
    }
    if let Some(a) = &v.approvals_needed {
        outln!(
            "approvals   {} of {} needed from {}; given: {}; waiting for: {}",
            a.given.len(),
            a.at_least,
            join(&a.of),
            if a.given.is_empty() {
                "none".into()
            } else {
                join(&a.given)
            },
            if a.missing.is_empty() {
                "nobody".into()
            } else {
                join(&a.missing)
            }
        );
    }
    let k = &p.key_dates;
    outln!(
        "key dates   request {}  invitation {} (valid until {})  deposit {}",
        date(k.requested_on),
        date(k.invited_on),
        date(k.invitation_expires_on),
        date(k.deposited_on)
    );
    outln!(
        "            entry into force: computed {}  recorded {}{}",
        date(k.entry_into_force_computed),
        date(k.entry_into_force_recorded),
        if v.entry_into_force_differs {
            "  DIFFERS: the recorded date is authoritative"
        } else {
            ""
        }
    );
    if let Some(until) = v.reservations_valid_until {
        outln!("            reservations valid until {until} unless renewed");
    }
    let t = &p.treaty;
    if let Some(source) = &t.entry_into_force_source {
        outln!("            entry into force as the depositary published it: {source}");
    }
    for e in &t.invitation_extensions {
        outln!(
            "            invitation extended to {} by {} (was {})",
            e.until,
            e.decision,
            date(e.previous_until)
        );
    }
    if let Some(e) = t
        .deadline_extension
        .as_ref()
        .filter(|e| e.stage_entry == p.stage_entry)
    {
        outln!("            deadline extended to {}: {}", e.until, e.reason);
    }
    for o in &t.objections {
        match o.withdrawn_on {
            Some(w) => outln!(
                "objection   {} raised {}, withdrawn {w}: {}",
                o.party,
                o.raised_on,
                o.text
            ),
            None => outln!(
                "objection   {} raised {}, STANDING: {}",
                o.party,
                o.raised_on,
                o.text
            ),
        }
    }
    if !p.fields.is_empty() {
        outln!("fields");
        for (name, value) in &p.fields {
            outln!("  {name} = {value}");
        }
    }
    if v.next.is_empty() {
        outln!("next        nothing: the procedure is {}", p.status);
    } else {
        outln!("next");
        for n in &v.next {
            let state = if n.blocked_by.is_empty() {
                "ready".to_string()
            } else {
                format!("blocked: {}", n.blocked_by.join("; "))
            };
            outln!("  -> {} ({}) by {} [{}]", n.to, n.title, join(&n.by), state);
        }
    }
    if !v.timers.is_empty() {
        outln!("pending timers");
        for t in &v.timers {
            outln!(
                "  {}  {:<10} {:<24} to {}",
                time(t.fire_at),
                t.kind,
                t.rule,
                t.recipients.join(", ")
            );
        }
    }
}

fn join(ids: &[InstitutionId]) -> String {
    ids.iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
