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
    /// The reservations, declarations, designations of authorities and territorial
    /// applications, each with where it stands on a day, its validity and next reminder.
    Reservations {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// Where each stands at the end of this day (YYYY-MM-DD); default: today.
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        as_of: Option<chrono::NaiveDate>,
        /// CSV instead of a table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Record a reservation, declaration, designation of an authority or territorial
    /// application, as the depositary holds it.
    Reserve {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// reservation, declaration, authority or territorial_application.
        #[arg(long, value_parser = parse_kind)]
        kind: crate::engine::ReservationKind,
        /// The article it is made under, e.g. `Art. 78(2)`.
        #[arg(long)]
        article: String,
        /// Its text in one language, as LANG=TEXT (e.g. `en=The Kyrgyz Republic declares …`);
        /// repeat for each language.
        #[arg(long = "text", value_name = "LANG=TEXT", value_parser = parse_text, required = true)]
        text: Vec<(String, String)>,
        /// signature, deposit or later (later: declarations only).
        #[arg(long, value_parser = parse_made_at)]
        made_at: crate::engine::MadeAt,
        /// The day it was made (YYYY-MM-DD): the signature's or the deposit's, or the later
        /// notification's.
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        made_on: chrono::NaiveDate,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the act.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Record the renewal of reservation NUMBER, notified on a day: a new period from the old
    /// expiry.
    RenewReservation {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The reservation's number on the procedure, as `procedures reservations` lists it.
        #[arg(long)]
        number: u32,
        /// The day the State notified it (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        on: chrono::NaiveDate,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the act.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Record the modification of reservation NUMBER, notified on a day, with its new text.
    ModifyReservation {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The reservation's number on the procedure, as `procedures reservations` lists it.
        #[arg(long)]
        number: u32,
        /// The day the State notified it (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        on: chrono::NaiveDate,
        /// Its new text in one language, as LANG=TEXT; repeat for each language.
        #[arg(long = "text", value_name = "LANG=TEXT", value_parser = parse_text, required = true)]
        text: Vec<(String, String)>,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the act.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Record the withdrawal of reservation NUMBER, received by the Secretary General on a
    /// day; it takes effect then, or on the later `--effective-on`.
    WithdrawReservation {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
        /// The reservation's number on the procedure, as `procedures reservations` lists it.
        #[arg(long)]
        number: u32,
        /// The day the Secretary General received the notification (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        received_on: chrono::NaiveDate,
        /// A later day the notification gives for it to take effect (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        effective_on: Option<chrono::NaiveDate>,
        #[command(flatten)]
        actor: VersionedActor,
        /// A note kept in the history with the act.
        #[arg(long)]
        comment: Option<String>,
    },
    /// The hash-chained history.
    History {
        /// The procedure, e.g. `kg-ets-112`.
        id: ProcedureId,
    },
}

fn parse_kind(text: &str) -> Result<crate::engine::ReservationKind, String> {
    crate::engine::ReservationKind::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is not a kind; use reservation, declaration, authority or \
             territorial_application"
        )
    })
}

fn parse_made_at(text: &str) -> Result<crate::engine::MadeAt, String> {
    crate::engine::MadeAt::parse(text)
        .ok_or_else(|| format!("`{text}` is not when it was made; use signature, deposit or later"))
}

fn parse_text(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((lang, t)) if !lang.is_empty() => Ok((lang.to_string(), t.to_string())),
        _ => Err(format!(
            "`{text}` is not LANG=TEXT; write for example `en=The State declares …`"
        )),
    }
}

fn texts(
    pairs: &[(String, String)],
) -> Result<std::collections::BTreeMap<String, String>, AppError> {
    let mut out = std::collections::BTreeMap::new();
    for (lang, t) in pairs {
        if out.insert(lang.clone(), t.clone()).is_some() {
            return Err(AppError::Invalid(format!(
                "`--text`: the {lang} text is given twice"
            )));
        }
    }
    Ok(out)
}

impl ProceduresCmd {
    /// Whether the command only reads (and so works on a read-only database).
    pub fn reads_only(&self) -> bool {
        matches!(
            self,
            ProceduresCmd::List { .. }
                | ProceduresCmd::Show { .. }
                | ProceduresCmd::History { .. }
                | ProceduresCmd::Reservations { .. }
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
        ProceduresCmd::Reservations { id, as_of, csv } => {
            let operator = crate::engine::Actor::operator(super::operator_name());
            let list = app.reservations(&operator, id, *as_of).await?;
            if cli.json {
                print_json(&list);
            } else if *csv {
                let bytes = crate::app::reservations::reservations_csv(&list)
                    .map_err(|e| AppError::Invalid(e.to_string()))?;
                outln!("{}", String::from_utf8_lossy(&bytes).trim_end());
            } else {
                print_reservations(&list);
            }
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
        ProceduresCmd::Reserve {
            id,
            kind,
            article,
            text,
            made_at,
            made_on,
            actor,
            comment,
        } => (
            id,
            actor,
            Act::Reserve {
                kind: *kind,
                article: article.clone(),
                text: texts(text)?,
                made_at: *made_at,
                made_on: *made_on,
                comment: comment.clone(),
            },
        ),
        ProceduresCmd::RenewReservation {
            id,
            number,
            on,
            actor,
            comment,
        } => (
            id,
            actor,
            Act::RenewReservation {
                number: *number,
                on: *on,
                comment: comment.clone(),
            },
        ),
        ProceduresCmd::ModifyReservation {
            id,
            number,
            on,
            text,
            actor,
            comment,
        } => (
            id,
            actor,
            Act::ModifyReservation {
                number: *number,
                on: *on,
                text: texts(text)?,
                comment: comment.clone(),
            },
        ),
        ProceduresCmd::WithdrawReservation {
            id,
            number,
            received_on,
            effective_on,
            actor,
            comment,
        } => (
            id,
            actor,
            Act::WithdrawReservation {
                number: *number,
                received_on: *received_on,
                effective_on: *effective_on,
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

fn print_reservations(list: &crate::app::reservations::ReservationList) {
    outln!("{}  as of {}", list.procedure, list.as_of);
    match &list.regime {
        Some(r) => outln!(
            "validity    {} years from entry into force{}; notice {} months before expiry",
            r.validity_years,
            if r.renewable { ", renewable" } else { "" },
            r.notice_months
        ),
        None => outln!("validity    no time limit"),
    }
    table(
        &[
            "NO",
            "KIND",
            "ARTICLE",
            "MADE AT",
            "MADE ON",
            "STATUS",
            "VALID UNTIL",
            "NEXT REMINDER",
            "TEXT",
        ],
        list.items.iter().map(|r| {
            let x = &r.reservation;
            let text = r
                .text_in_force
                .iter()
                .map(|(l, t)| format!("[{l}] {t}"))
                .collect::<Vec<_>>()
                .join(" ");
            let short: String = text.chars().take(60).collect();
            vec![
                x.number.to_string(),
                x.kind.as_str().to_string(),
                x.article.clone(),
                x.made_at.as_str().to_string(),
                x.made_on.to_string(),
                r.status.as_str().to_string(),
                date(r.valid_until),
                r.next_reminder.map_or_else(
                    || "-".into(),
                    |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
                ),
                if short.len() < text.len() {
                    format!("{short}…")
                } else {
                    short
                },
            ]
        }),
    );
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
