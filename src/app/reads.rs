//! Listing procedures a page at a time, for what the caller may see: the database filters, orders
//! and limits; the application only says which workflow definitions the caller may read (there are
//! a few per workflow, not per procedure) and turns the keyset into an opaque cursor.

use std::sync::Arc;

use super::cursor::{Cursor, ProcedureCursor, UrgencyCursor};
use super::{Accession, AppError};
use crate::engine::Actor;
use crate::ids::InstitutionId;
use crate::store::{
    Keyset, ProcedureCounts, ProcedureFilter, ProcedureQuery, ProcedureRow, UrgencyKeyset,
    urgency_of,
};
use crate::workflow::WorkflowDefinition;

/// The largest page a caller may ask for.
pub const MAX_PAGE: u32 = 500;

/// What a listing asks for.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub filter: ProcedureFilter,
    /// Only those whose current stage this institution is responsible for.
    pub responsible: Option<InstitutionId>,
    /// Only those not overdue today.
    pub not_overdue: bool,
    /// A cursor from a previous page's `next` or `previous`; none for the first page.
    pub cursor: Option<String>,
    /// 1 to `MAX_PAGE`.
    pub limit: u32,
}

/// One page of procedures, in id order, with the cursors of the pages around it.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the next page; none on the last.
    pub next: Option<String>,
    /// The cursor of the previous page; none on the first.
    pub previous: Option<String>,
}

/// The cursor of a keyset; none for the first page. See [`super::cursor`].
pub fn encode_cursor(at: &Keyset) -> Option<String> {
    (!matches!(at, Keyset::First)).then(|| ProcedureCursor(at.clone()).encode())
}

/// The keyset a cursor names; refused (naming the `cursor` parameter) when it is not one.
/// An empty cursor (`cursor=`) is no cursor: the first page.
pub fn decode_cursor(cursor: Option<&str>) -> Result<Keyset, AppError> {
    Ok(ProcedureCursor::decode(cursor)?.map_or(Keyset::First, |c| c.0))
}

/// The dashboard's data: a page of rows, most urgent first, and the counts over everything its
/// filter keeps.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub page: Page<DashboardRow>,
    pub total: u64,
    pub active: u64,
    pub overdue: u64,
    /// Active, due today or within the next `store::DUE_SOON_DAYS - 1` days.
    pub due_soon: u64,
    /// Active and neither overdue nor due soon (no due day among them).
    pub on_time: u64,
    pub by_stage: Vec<StageCount>,
    /// The counts of the caller's own institution's stages (what it is responsible for now),
    /// under the same filter; none when the filter already keeps only those of one institution.
    pub mine: Option<ProcedureCounts>,
}

/// A procedure on the dashboard, with what its row shows of its workflow.
#[derive(Debug, Clone)]
pub struct DashboardRow {
    pub procedure: crate::engine::ProcedureState,
    pub stage_title: String,
    pub responsible: Vec<InstitutionId>,
    pub overdue: bool,
    /// How many days past its due day an active procedure is, today (1 the day after).
    pub overdue_days: Option<i64>,
    /// How many days until its due day an active procedure not overdue has (0: due today).
    pub due_in_days: Option<i64>,
    /// Whether the caller's institution is responsible for the current stage.
    pub mine: bool,
}

/// How many procedures are at stages of one title.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageCount {
    pub title: String,
    pub count: u64,
}

impl Accession {
    /// The definitions (by hash) whose procedures `actor` may read; `None` when it may read all.
    pub async fn readable_definitions(
        &self,
        actor: &Actor,
    ) -> Result<Option<Vec<String>>, AppError> {
        if !matches!(actor.role, crate::engine::Role::Ministry) {
            return Ok(None);
        }
        let mut readable = Vec::new();
        for (hash, _) in self.store.definitions().await? {
            let def = self.definition_of(&hash).await?;
            if actor.may_read(&def) {
                readable.push(hash);
            }
        }
        Ok(Some(readable))
    }

    /// Check a listing's filter names things that exist: a typo is not an empty result.
    async fn check_filter(
        &self,
        filter: &ProcedureFilter,
        responsible: Option<&InstitutionId>,
    ) -> Result<(), AppError> {
        if let Some(c) = &filter.convention
            && self.store.convention(c).await?.is_none()
        {
            return Err(AppError::NotFound {
                what: "convention",
                id: c.to_string(),
            });
        }
        if let Some(stage) = &filter.stage {
            let known = self.stage_ids();
            if !known.iter().any(|s| s == stage.as_str()) {
                let hint = match crate::suggest::closest(stage.as_str(), &known) {
                    Some(close) => format!("; did you mean `{close}`?"),
                    None => format!("; stages: {}", known.join(", ")),
                };
                return Err(AppError::InvalidField {
                    field: "stage",
                    detail: format!("no workflow has a stage `{stage}`{hint}"),
                });
            }
        }
        if let Some(i) = responsible
            && self.store.institution(i).await?.is_none()
        {
            return Err(AppError::NotFound {
                what: "institution",
                id: i.to_string(),
            });
        }
        Ok(())
    }

    async fn query_for(
        &self,
        actor: &Actor,
        req: &ListRequest,
    ) -> Result<ProcedureQuery, AppError> {
        self.check_filter(&req.filter, req.responsible.as_ref())
            .await?;
        Ok(ProcedureQuery {
            filter: req.filter.clone(),
            responsible: req.responsible.clone(),
            not_overdue_on: req.not_overdue.then(|| self.today()),
            definitions: self.readable_definitions(actor).await?,
        })
    }

    /// One page of the procedures `actor` may read that `req` asks for, by id. Reads at most
    /// `req.limit + 1` procedure rows.
    pub async fn procedures(
        &self,
        actor: &Actor,
        req: &ListRequest,
    ) -> Result<Page<ProcedureRow>, AppError> {
        if !(1..=MAX_PAGE).contains(&req.limit) {
            return Err(AppError::InvalidField {
                field: "limit",
                detail: format!("limit {} is not between 1 and {MAX_PAGE}", req.limit),
            });
        }
        let at = decode_cursor(req.cursor.as_deref())?;
        let query = self.query_for(actor, req).await?;
        let (items, more) = self
            .store
            .procedure_page(&query, &at, u64::from(req.limit))
            .await?;
        let first = items.first().map(|r| r.procedure.id.clone());
        let last = items.last().map(|r| r.procedure.id.clone());
        let (next, previous) = match at {
            Keyset::First => (more.then_some(last).flatten().map(Keyset::After), None),
            Keyset::After(_) => (
                more.then_some(last).flatten().map(Keyset::After),
                first.map(Keyset::Before),
            ),
            Keyset::Before(_) => (
                last.map(Keyset::After),
                more.then_some(first).flatten().map(Keyset::Before),
            ),
        };
        Ok(Page {
            items,
            next: next.as_ref().and_then(encode_cursor),
            previous: previous.as_ref().and_then(encode_cursor),
        })
    }

    /// Counts over every procedure of `req` that `actor` may read (not just one page): total,
    /// active, overdue today, and by stage.
    pub async fn procedure_counts(
        &self,
        actor: &Actor,
        req: &ListRequest,
    ) -> Result<ProcedureCounts, AppError> {
        let query = self.query_for(actor, req).await?;
        Ok(self.store.procedure_counts(&query, self.today()).await?)
    }

    /// One page of the procedures `actor` may read that `req` asks for, most urgent first: the
    /// most overdue, then the soonest due, then those not active or without a due day (by id).
    /// `req.cursor` is an urgency cursor. Reads at most `req.limit + 1` procedure rows.
    pub async fn procedures_by_urgency(
        &self,
        actor: &Actor,
        req: &ListRequest,
    ) -> Result<Page<ProcedureRow>, AppError> {
        if !(1..=MAX_PAGE).contains(&req.limit) {
            return Err(AppError::InvalidField {
                field: "limit",
                detail: format!("limit {} is not between 1 and {MAX_PAGE}", req.limit),
            });
        }
        let at =
            UrgencyCursor::decode(req.cursor.as_deref())?.map_or(UrgencyKeyset::First, |c| c.0);
        let query = self.query_for(actor, req).await?;
        let (items, more) = self
            .store
            .urgency_page(&query, &at, u64::from(req.limit))
            .await?;
        let position = |r: &ProcedureRow| {
            (
                urgency_of(r.procedure.status, r.procedure.due_on),
                r.procedure.id.clone(),
            )
        };
        let first = items.first().map(position);
        let last = items.last().map(position);
        let after = |p: Option<(chrono::NaiveDate, crate::ids::ProcedureId)>| {
            p.map(|(d, id)| UrgencyKeyset::After(d, id))
        };
        let before = |p: Option<(chrono::NaiveDate, crate::ids::ProcedureId)>| {
            p.map(|(d, id)| UrgencyKeyset::Before(d, id))
        };
        let (next, previous) = match at {
            UrgencyKeyset::First => (after(more.then_some(last).flatten()), None),
            UrgencyKeyset::After(..) => (after(more.then_some(last).flatten()), before(first)),
            UrgencyKeyset::Before(..) => (after(last), before(more.then_some(first).flatten())),
        };
        let encode = |k: UrgencyKeyset| UrgencyCursor(k).encode();
        Ok(Page {
            items,
            next: next.map(encode),
            previous: previous.map(encode),
        })
    }

    /// The dashboard: a page of the procedures of `req` that `actor` may read, most urgent first
    /// (`procedures_by_urgency`), each with its stage's title, responsible institutions and how
    /// many days it is overdue or has left, and the counts over all of them (not just the page),
    /// stages of the same title (versions of a workflow) counted together, and the counts of
    /// what `actor`'s institution is responsible for.
    /// Stage titles are in `language` (English where the workflow gives no other).
    pub async fn dashboard(
        &self,
        actor: &Actor,
        req: &ListRequest,
        language: crate::reference::Language,
    ) -> Result<Dashboard, AppError> {
        let listed = self.procedures_by_urgency(actor, req).await?;
        let counts = self.procedure_counts(actor, req).await?;
        let mine = match req.responsible {
            Some(_) => None,
            None => Some(
                self.procedure_counts(
                    actor,
                    &ListRequest {
                        responsible: Some(actor.institution.clone()),
                        ..req.clone()
                    },
                )
                .await?,
            ),
        };
        let today = self.today();
        let mut by_stage: Vec<StageCount> = Vec::new();
        for (hash, stage, n) in &counts.by_stage {
            let def = self.definition_of(hash).await?;
            let title = crate::ids::StageId::parse(stage.clone())
                .ok()
                .and_then(|id| def.stage(&id).map(|s| s.title_in(language).to_string()))
                .unwrap_or_else(|| stage.clone());
            match by_stage.iter_mut().find(|s| s.title == title) {
                Some(s) => s.count += n,
                None => by_stage.push(StageCount { title, count: *n }),
            }
        }
        let mut items = Vec::with_capacity(listed.items.len());
        for row in listed.items {
            let p = row.procedure;
            let def = self.definition_of(&p.workflow.hash).await?;
            let stage = def.stage(&p.stage);
            let responsible: Vec<InstitutionId> =
                stage.map(|s| s.responsible.clone()).unwrap_or_default();
            let overdue = p.is_overdue(today);
            let days = p
                .due_on
                .filter(|_| p.status == crate::engine::Status::Active)
                .map(|due| (due - today).num_days());
            items.push(DashboardRow {
                stage_title: stage
                    .map_or_else(|| p.stage.to_string(), |s| s.title_in(language).to_string()),
                mine: responsible.contains(&actor.institution),
                responsible,
                overdue,
                overdue_days: days.filter(|d| *d < 0).map(|d| -d),
                due_in_days: days.filter(|d| *d >= 0),
                procedure: p,
            });
        }
        Ok(Dashboard {
            page: Page {
                items,
                next: listed.next,
                previous: listed.previous,
            },
            total: counts.total,
            active: counts.active,
            overdue: counts.overdue,
            due_soon: counts.due_soon,
            on_time: counts
                .active
                .saturating_sub(counts.overdue)
                .saturating_sub(counts.due_soon),
            by_stage,
            mine,
        })
    }

    /// Bring the stored verification state up to date for at most `max` procedures written since
    /// the newest stored result (their new rows only): the background pass of `serve`.
    pub async fn verify_recent_history(&self, max: u64) -> Result<u64, AppError> {
        let newest = self.store.verification_summary().await?.newest;
        Ok(self.store.verify_since(newest, max, self.now()).await?)
    }

    /// Fill what the reads keep beside each procedure for procedures written before it was kept:
    /// today the responsible institutions of their current stage. Done once, recorded in
    /// `backfills`; later calls read one row.
    pub(crate) async fn backfill(&self) -> Result<(), AppError> {
        if self.store.backfilled("procedure_responsibles").await? {
            return Ok(());
        }
        let mut stages = Vec::new();
        for (hash, _) in self.store.definitions().await? {
            let def: Arc<WorkflowDefinition> = self.definition_of(&hash).await?;
            for stage in &def.stages {
                stages.push((
                    hash.clone(),
                    stage.id.to_string(),
                    stage.responsible.clone(),
                ));
            }
        }
        let written = self
            .store
            .backfill_responsibles(&stages, self.now())
            .await?;
        if written > 0 {
            tracing::info!(
                rows = written,
                "responsible institutions filled in for existing procedures"
            );
        }
        Ok(())
    }
}
