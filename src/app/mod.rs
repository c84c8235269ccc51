//! The application: settings, store, workflow catalog and clock put together, with the use cases
//! the CLI (and later the API) call. Thin: it loads, asks the engine, and has the store apply.

mod accounts;
mod acts;
mod answering;
mod audit;
mod catalog;
pub mod chart;
pub mod checkpoints;
pub mod cursor;
mod demo;
mod effective;
mod error;
mod feeds;
mod hints;
mod migrations;
mod ops;
mod outbox;
mod reads;
mod reference;
pub mod reservations;
mod sessions;
mod states;
mod timers;
mod tokens;
mod view;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

pub use accounts::{
    LINKS_PER_LIFETIME, LinkEmail, LinkKey, Listed, MAX_LIST, checked_email, link_hash,
};
pub use acts::{AllowedAct, Moves};
pub use answering::Answering;
pub use catalog::{Catalog, check_files, check_files_at, workflow_files};
pub use demo::DemoSummary;
pub use error::AppError;
pub use feeds::{CalendarEntry, CalendarEntryKind, CalendarFeed, NewFeedKey};
pub use migrations::{MoveOutcome, PlannedMove};
pub use ops::Unready;
pub use reads::{
    Dashboard, DashboardRow, ListRequest, MAX_PAGE, Page, StageCount, decode_cursor, encode_cursor,
};
pub use sessions::{NewSession, SESSION_LIFETIME, Session, random_secret};
pub use tokens::{NewToken, TOKEN_LEN, TOKEN_PREFIX, token_hash, token_prefix};
pub use view::{NextMove, ProcedureView};

use crate::calendar::{WorkingCalendar, Zones};
use crate::clock::Clock;
use crate::config::Settings;
use crate::engine::{
    self, Actor, Command, Context, ConventionRules, Decision, ProcedureState, StartProcedure,
    Stated,
};
use crate::ids::{ConventionId, InstitutionId, ProcedureId, WorkflowId};
use crate::reference::{ConventionFile, ImportError, Institution, InstitutionFile};
use crate::store::{ImportSummary, Store, StoreError};
use crate::workflow::{KnownInstitutions, WorkflowDefinition, parse_definition};

pub struct Accession {
    pub settings: Settings,
    /// Private: the CLI, the API and the pages go through the use cases below, each of which
    /// takes its caller and asks `Actor::may`; see `store` for the few modules that may not.
    store: Store,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<crate::metrics::Metrics>,
    catalog: Catalog,
    calendar: WorkingCalendar,
    /// Definitions read back from the database, by hash: content-addressed, so never stale.
    stored: std::sync::Mutex<std::collections::HashMap<String, Arc<WorkflowDefinition>>>,
    /// Seals sign-in links in the outbox (see `accounts`); drawn at start, kept nowhere else.
    link_key: LinkKey,
}

impl Accession {
    /// Connect, bring the schema up to date and load the workflows folder.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> Result<Accession, AppError> {
        let store = Store::connect(&settings.database).await?;
        store.migrate().await?;
        let app = Self::assemble(settings, store, clock).await?;
        app.backfill().await?;
        Ok(app)
    }

    /// Open for a command that only reads: when the schema is up to date nothing is written,
    /// not even the table of migrations, so it works on a database that cannot be written (a
    /// read-only mount, a copy kept as evidence, a PostgreSQL role that may only read). A
    /// database that does not exist yet, or whose schema is behind, is opened as `open` does
    /// (created, migrated); when that cannot be done, the error says why.
    pub async fn open_to_read(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Accession, AppError> {
        if Store::is_missing(&settings.database) {
            return Self::open(settings, clock).await;
        }
        let store = Store::connect_read_only(&settings.database).await?;
        let pending = store.pending_migrations_read_only().await?;
        if pending.is_empty() && store.backfilled("procedure_responsibles").await? {
            return Self::assemble(settings, store, clock).await;
        }
        let _ = store.close().await;
        Self::open(settings, clock).await.map_err(|e| {
            AppError::Invalid(format!(
                "the database's schema is behind this version of accession ({} migration(s) to \
                 apply: {}) and cannot be brought up to date here ({e}): run `accession \
                 migrate` where the database can be written",
                pending.len(),
                pending.join(", ")
            ))
        })
    }

    /// The application on `store`, whose schema is up to date.
    async fn assemble(
        settings: Settings,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Accession, AppError> {
        let store = store.with_mail_domain(crate::notify::message_id_domain(&settings.mail.from));
        let mut app = Accession {
            settings,
            store,
            clock,
            metrics: Arc::default(),
            catalog: Catalog::default(),
            calendar: WorkingCalendar::weekends_only(),
            stored: Default::default(),
            link_key: LinkKey::random()?,
        };
        app.calendar = app.load_calendar()?;
        app.reload_workflows().await?;
        Ok(app)
    }

    /// The institutions workflows may name: those in the database.
    pub async fn known_institutions(&self) -> Result<KnownInstitutions, AppError> {
        let ids: BTreeSet<InstitutionId> = self
            .store
            .institutions()
            .await?
            .into_iter()
            .map(|i| i.id)
            .collect();
        Ok(KnownInstitutions::Only(ids))
    }

    /// Load and check every workflow file. Institution ids are checked once institutions exist.
    pub async fn reload_workflows(&mut self) -> Result<(), AppError> {
        let known = match self.known_institutions().await? {
            KnownInstitutions::Only(ids) if ids.is_empty() => KnownInstitutions::Unchecked,
            known => known,
        };
        let files = workflow_files(&self.settings.workflows.dir).map_err(AppError::Invalid)?;
        let checked = check_files_at(&files, &known).map_err(AppError::Workflows)?;
        let mut changed = Vec::new();
        for (def, path) in &checked {
            let stored = self.store.definition_hashes(&def.id, def.version).await?;
            changed.extend(catalog::changed_without_new_version(def, path, &stored));
        }
        if !changed.is_empty() {
            return Err(AppError::Workflows(changed));
        }
        self.catalog = Catalog::new(checked.into_iter().map(|(def, _)| def).collect());
        Ok(())
    }

    /// The working-day calendar named in the settings, or the weekend alone when none is.
    fn load_calendar(&self) -> Result<WorkingCalendar, AppError> {
        let Some(path) = &self.settings.calendar.holidays else {
            return Ok(WorkingCalendar::weekends_only());
        };
        let source = std::fs::read_to_string(path).map_err(|e| {
            AppError::Invalid(format!(
                "calendar.holidays: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let name = path.display().to_string();
        let parsed = crate::reference::HolidayCalendar::parse(&name, &source)?;
        if let Some((_, until)) = parsed.calendar.covers()
            && until < self.today()
        {
            tracing::warn!(
                calendar = %name,
                %until,
                "the holiday calendar ends before today; business days now skip weekends only"
            );
        }
        Ok(parsed.calendar)
    }

    /// The store itself, for the crate's background work and transport plumbing only: the
    /// scheduler and the email dispatcher (which act as Accession itself, not for a caller, and
    /// claim, lease and settle rows no use case shows) and the API's idempotency keys (which
    /// hold a request's answer, not the application's data). No handler of the CLI, the API or
    /// the pages calls it: they call the use cases.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The store itself, for the integration tests and benchmarks, which set up and inspect the
    /// database directly (a corrupted row, a lease, a count). Not for the application's own
    /// code: within the crate the field is private and `store` above names its few users.
    #[doc(hidden)]
    pub fn store_for_tests(&self) -> &Store {
        &self.store
    }

    pub fn calendar(&self) -> &WorkingCalendar {
        &self.calendar
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The actor for `institution`: a coordinator if the institution is the coordinator, else a
    /// ministry, unless `role` says otherwise. Refused when the institution may not hold the role
    /// or `name` is not one line of text.
    pub async fn actor(
        &self,
        institution: &InstitutionId,
        role: Option<engine::Role>,
        name: &str,
    ) -> Result<Actor, AppError> {
        let inst =
            self.store
                .institution(institution)
                .await?
                .ok_or_else(|| AppError::NotFound {
                    what: "institution",
                    id: institution.to_string(),
                })?;
        let role = role.unwrap_or(if inst.coordinator {
            engine::Role::Coordinator
        } else {
            engine::Role::Ministry
        });
        let name = crate::text::checked(name, crate::text::Lines::One).map_err(|e| {
            AppError::InvalidField {
                field: "name",
                detail: format!("the actor's name is not valid: {e}"),
            }
        })?;
        let actor = Actor::new(inst.id, role, name);
        self.role_held(&actor).await?;
        Ok(actor)
    }

    /// Refused (403) unless the actor's institution may hold its role as the institutions table
    /// says now: an import may have taken the coordinator flag from it since its token was made.
    pub(crate) async fn role_held(&self, actor: &Actor) -> Result<(), AppError> {
        if actor.role.needs_coordinating_institution() {
            actor.role_held(&self.people().await?.coordinators)?;
        }
        Ok(())
    }

    /// Import an institutions file; refused with the file and line at fault, writing nothing, if
    /// it would leave no coordinator or several.
    pub async fn import_institutions(&self, path: &Path) -> Result<ImportSummary, AppError> {
        let (name, source) = read(path)?;
        let located = InstitutionFile::parse_located(&name, &source)?;
        let list: Vec<Institution> = located.iter().map(|(i, _)| i.clone()).collect();
        match self.store.import_institutions(&list, self.now()).await {
            Ok(summary) => Ok(summary),
            Err(StoreError::Coordinators(problem)) => {
                let at = problem
                    .institution()
                    .and_then(|id| located.iter().find(|(i, _)| &i.id == id))
                    .map_or(0, |(_, at)| *at);
                Err(ImportError::at(&name, &source, at, problem.to_string()).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn import_conventions(&self, path: &Path) -> Result<ImportSummary, AppError> {
        let (name, source) = read(path)?;
        let list = ConventionFile::parse(&name, &source)?;
        Ok(self.store.import_conventions(&list, self.now()).await?)
    }

    /// Start a procedure on the current version of `workflow`.
    pub async fn start(
        &self,
        workflow: &WorkflowId,
        cmd: &StartProcedure,
        actor: &Actor,
    ) -> Result<ProcedureView, AppError> {
        self.start_at(workflow, cmd, actor, self.now()).await
    }

    pub(crate) async fn start_at(
        &self,
        workflow: &WorkflowId,
        cmd: &StartProcedure,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<ProcedureView, AppError> {
        let outcome = async {
            let decision = self.decide_start(workflow, cmd, actor, now).await?;
            if let Err(e) = self.store.apply(&decision).await {
                return Err(self.naming_the_open_one(e, &decision.procedure).await);
            }
            Ok(decision)
        }
        .await;
        self.observe(outcome.as_ref());
        self.view_of(outcome?.procedure).await
    }

    /// What the engine decides for starting `cmd` on the current version of `workflow`, with that
    /// definition saved (it is content-addressed, so saving it again changes nothing). A procedure
    /// that already exists is refused by the store's insert, in the act's transaction.
    async fn decide_start(
        &self,
        workflow: &WorkflowId,
        cmd: &StartProcedure,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Decision, AppError> {
        let def = self
            .catalog
            .current(workflow)
            .ok_or_else(|| AppError::NotFound {
                what: "workflow",
                id: workflow.to_string(),
            })?;
        let rules = self.rules_of(&cmd.convention).await?;
        let people = self.people().await?;
        let decision = engine::start(self.context(&def, &rules, &people), cmd, actor, now)?;
        // Who may start is asked first; then whether the State may have this procedure.
        self.check_start_party(&def, cmd).await?;
        self.store.save_definition(&def, now).await?;
        Ok(decision)
    }

    /// Count a decision's transition, or a refusal by kind.
    fn observe(&self, outcome: Result<&Decision, &AppError>) {
        match outcome {
            Ok(decision) => {
                for event in &decision.events {
                    if let Some(to) = &event.to_stage
                        && event.from_stage.as_ref() != Some(to)
                    {
                        self.metrics
                            .transitions
                            .get_or_create(&crate::metrics::StageLabels {
                                workflow: decision.procedure.workflow.id.to_string(),
                                stage: to.to_string(),
                            })
                            .inc();
                    }
                }
            }
            Err(e @ (AppError::Refused(_) | AppError::Conflict(_))) => {
                self.metrics.count(&self.metrics.refusals, e.kind());
            }
            Err(_) => {}
        }
    }

    /// Decide and apply one act.
    pub async fn act(
        &self,
        id: &ProcedureId,
        cmd: &Command,
        actor: &Actor,
    ) -> Result<ProcedureView, AppError> {
        self.act_at(id, cmd, None, actor, self.now()).await
    }

    /// `act`, with the act stated to have taken effect on `stated` rather than now (see
    /// `engine::effective`).
    pub async fn act_stated(
        &self,
        id: &ProcedureId,
        cmd: &Command,
        stated: Option<Stated>,
        actor: &Actor,
    ) -> Result<ProcedureView, AppError> {
        self.act_at(id, cmd, stated, actor, self.now()).await
    }

    pub(crate) async fn act_at(
        &self,
        id: &ProcedureId,
        cmd: &Command,
        stated: Option<Stated>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<ProcedureView, AppError> {
        let current = self
            .store
            .procedure(id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "procedure",
                id: id.to_string(),
            })?;
        self.act_on_at(current, cmd, stated, actor, now).await
    }

    /// Decide and apply one act on `current`, the procedure as the caller has just read it (the
    /// API reads it to check the caller may see it): reading it again would only widen the
    /// window in which another act can come first, and that is caught by the version check when
    /// the decision is applied.
    pub async fn act_on(
        &self,
        current: ProcedureState,
        cmd: &Command,
        actor: &Actor,
    ) -> Result<ProcedureView, AppError> {
        self.act_on_at(current, cmd, None, actor, self.now()).await
    }

    /// `act_on`, with the act stated to have taken effect on `stated` rather than now.
    pub async fn act_on_stated(
        &self,
        current: ProcedureState,
        cmd: &Command,
        stated: Option<Stated>,
        actor: &Actor,
    ) -> Result<ProcedureView, AppError> {
        self.act_on_at(current, cmd, stated, actor, self.now())
            .await
    }

    async fn act_on_at(
        &self,
        current: ProcedureState,
        cmd: &Command,
        stated: Option<Stated>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<ProcedureView, AppError> {
        let cmd = self.rebased(&current, cmd).await?;
        let outcome = async {
            let decision = self
                .decide_stated(&current, &cmd, stated, actor, now)
                .await?;
            self.store.apply(&decision).await?;
            Ok(decision)
        }
        .await;
        self.observe(outcome.as_ref());
        // What was written is the decision's procedure: the view is built from it, not re-read.
        self.view_of(outcome?.procedure).await
    }

    /// `cmd` made current when all that happened since the version it names is Accession's own
    /// doing (reminders, deadlines, escalations fired): those change nothing a person decided on,
    /// so a ministry is not sent back to reload because a reminder went out. Anything a person did
    /// in between still makes the command stale.
    async fn rebased(&self, current: &ProcedureState, cmd: &Command) -> Result<Command, AppError> {
        if cmd.expected_version >= current.version || cmd.expected_version.0 < 1 {
            return Ok(cmd.clone());
        }
        // One event per accepted act or fired timer: version N ends with history sequence N.
        let since: Vec<_> = self
            .store
            .history(&current.id)
            .await?
            .into_iter()
            .filter(|row| row.sequence > cmd.expected_version.0)
            .collect();
        let only_system = !since.is_empty()
            && since
                .iter()
                .all(|row| row.actor_institution == crate::engine::SYSTEM_INSTITUTION);
        let mut cmd = cmd.clone();
        if only_system {
            cmd.expected_version = current.version;
        }
        Ok(cmd)
    }

    /// What the engine decides for `cmd` on `current`, with the procedure's own definition and
    /// convention; nothing is written.
    pub async fn decide(
        &self,
        current: &ProcedureState,
        cmd: &Command,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Decision, AppError> {
        let def = self.definition_of(&current.workflow.hash).await?;
        let rules = self.rules_of(&current.convention).await?;
        let people = self.people().await?;
        Ok(engine::decide(
            self.context(&def, &rules, &people),
            current,
            cmd,
            actor,
            now,
        )?)
    }

    /// Who works where, and who coordinates: read from the institutions table.
    pub(crate) async fn people(&self) -> Result<People, AppError> {
        let institutions = self.store.institutions().await?;
        Ok(People {
            zones: Zones::new(
                self.settings.calendar.time_zone,
                institutions.iter().map(|i| (i.id.clone(), i.time_zone)),
            ),
            coordinators: institutions
                .iter()
                .filter(|i| i.coordinator)
                .map(|i| i.id.clone())
                .collect(),
        })
    }

    pub(crate) fn context<'a>(
        &'a self,
        definition: &'a WorkflowDefinition,
        convention: &'a ConventionRules,
        people: &'a People,
    ) -> Context<'a> {
        Context {
            definition,
            convention,
            calendar: &self.calendar,
            zones: &people.zones,
            coordinators: &people.coordinators,
        }
    }

    pub(crate) async fn rules_of(&self, id: &ConventionId) -> Result<ConventionRules, AppError> {
        let convention = self
            .store
            .convention(id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "convention",
                id: id.to_string(),
            })?;
        Ok(convention.rules())
    }

    /// Today in the time zone deadlines are counted in.
    pub fn today(&self) -> NaiveDate {
        self.now()
            .with_timezone(&self.settings.calendar.time_zone)
            .date_naive()
    }

    /// The definition a procedure started on: from the folder if unchanged, else as stored.
    pub async fn definition_of(&self, hash: &str) -> Result<Arc<WorkflowDefinition>, AppError> {
        if let Some(def) = self.catalog.by_hash(hash) {
            return Ok(def);
        }
        if let Some(def) = self.stored_definitions().get(hash) {
            return Ok(Arc::clone(def));
        }
        let source =
            self.store
                .definition_source(hash)
                .await?
                .ok_or_else(|| AppError::NotFound {
                    what: "workflow definition",
                    id: hash.to_string(),
                })?;
        let def = parse_definition(
            &format!("stored definition {hash}"),
            &source,
            &KnownInstitutions::Unchecked,
        )
        .map_err(AppError::Workflows)?;
        let def = Arc::new(def);
        self.stored_definitions()
            .insert(hash.to_string(), Arc::clone(&def));
        Ok(def)
    }

    fn stored_definitions(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<WorkflowDefinition>>> {
        self.stored.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The institutions' time zones and the coordinators, as a decision needs them.
pub struct People {
    pub zones: Zones,
    pub coordinators: Vec<InstitutionId>,
}

/// Read and parse an institutions file.
pub fn read_institution_file(path: &Path) -> Result<Vec<Institution>, AppError> {
    let (name, source) = read(path)?;
    Ok(InstitutionFile::parse(&name, &source)?)
}

pub(crate) fn read(path: &Path) -> Result<(String, String), AppError> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| {
        AppError::Import(ImportError {
            file: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the file: {e}"),
        })
    })?;
    Ok((name, source))
}
