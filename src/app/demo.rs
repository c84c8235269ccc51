//! The demo data of the Kyrgyz case: the seed's institutions and conventions, and the Kyrgyz
//! Republic's six procedures — ETS 112 replayed on its known dates to entry into force (the steps
//! whose days are not known marked approximate), the other five at the stage after the 2023
//! Strasbourg seminar. Idempotent: a second run changes nothing.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use super::{Accession, AppError};
use crate::engine::{Act, Actor, Command, Role, StartProcedure, Stated};
use crate::ids::{
    ConventionId, FieldName, InstitutionId, ProcedureId, StageId, StateCode, WorkflowId,
};
use crate::store::ImportSummary;

#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub states: ImportSummary,
    pub institutions: ImportSummary,
    pub conventions: ImportSummary,
    pub procedures_created: Vec<String>,
    pub procedures_existing: Vec<String>,
}

const WORKFLOW: &str = "coe-accession";
const OTHERS: [&str; 5] = ["cets-210", "cets-201", "ets-185", "cets-197", "ets-173"];

/// A moment on a day, in Bishkek office hours (UTC+6), `minute` minutes after 10:00.
fn on(day: &str, minute: u32) -> DateTime<Utc> {
    let date: NaiveDate = day.parse().expect("demo dates are valid");
    chrono_tz::Asia::Bishkek
        .from_local_datetime(
            &date
                .and_hms_opt(10, 0, 0)
                .expect("valid")
                .checked_add_signed(chrono::TimeDelta::minutes(minute.into()))
                .expect("valid"),
        )
        .single()
        .expect("Bishkek has no DST")
        .with_timezone(&Utc)
}

fn id<T>(parse: impl Fn(String) -> Result<T, crate::ids::InvalidId>, text: &str) -> T {
    parse(text.to_string()).expect("demo ids are valid")
}

impl Accession {
    pub async fn demo(&mut self) -> Result<DemoSummary, AppError> {
        let dir = self.settings.demo.dir.clone();
        let states = self.import_states(&dir.join("states.toml")).await?;
        let institutions = self
            .import_institutions(&dir.join("institutions.toml"))
            .await?;
        let conventions = self
            .import_conventions(&dir.join("conventions.toml"))
            .await?;
        // Institutions exist now: check the workflows against them.
        self.reload_workflows().await?;

        let mut summary = DemoSummary {
            states,
            institutions,
            conventions,
            procedures_created: Vec::new(),
            procedures_existing: Vec::new(),
        };
        let ets112 = id(ProcedureId::parse, "kg-ets-112");
        if self.store.procedure(&ets112).await?.is_some() {
            summary.procedures_existing.push(ets112.to_string());
        } else {
            self.replay_ets_112(&ets112).await?;
            summary.procedures_created.push(ets112.to_string());
        }
        for convention in OTHERS {
            let pid = id(ProcedureId::parse, &format!("kg-{convention}"));
            if self.store.procedure(&pid).await?.is_some() {
                summary.procedures_existing.push(pid.to_string());
                continue;
            }
            let mut r = Replay::new(self, pid.clone());
            r.start(convention, on("2023-05-30", 0)).await?;
            r.advance(
                "mfa",
                "legal-review",
                on("2023-06-01", 0),
                "Domestic review opened after the Strasbourg seminar of 30 May – 1 June 2023.",
            )
            .await?;
            summary.procedures_created.push(pid.to_string());
        }
        Ok(summary)
    }

    /// ETS No. 112 on the dates the sources give (see README, "What the demo loads"). The steps
    /// whose days are not known (the Ministry of Justice's review, the opinions, the request, the
    /// consultation of the Parties, the invitation, the law reaching the Jogorku Kenesh) are
    /// recorded with the law's adoption on 2023-12-20 and stated approximate: on or before that
    /// day, after the seminar. The workflow asks three opinions before the request; the sources
    /// name none, so three of the institutions the route as practised consults record
    /// placeholders that say so.
    async fn replay_ets_112(&self, pid: &ProcedureId) -> Result<(), AppError> {
        const NOT_KNOWN: &str = "Day not known: recorded with the adoption of the law \
             (2023-12-20), on or before which it happened.";
        const PLACEHOLDER: &str = "Placeholder, not a known opinion: the workflow asks three \
             opinions before the request, and no source says which institutions gave one on \
             ETS No. 112, or when.";
        let mut r = Replay::new(self, pid.clone());
        r.start("ets-112", on("2023-05-30", 0)).await?;
        r.advance(
            "mfa",
            "legal-review",
            on("2023-06-01", 0),
            "Domestic review opened after the Strasbourg seminar of 30 May – 1 June 2023.",
        )
        .await?;
        let day = "2023-12-20";
        // On or before the law's adoption; the day itself is not known.
        r.stated = Some(not_known_after(day));
        r.record(
            "moj",
            "compatibility_report",
            "Ministry of Justice review of ETS No. 112 (reference not known)",
            on(day, 0),
        )
        .await?;
        r.advance("moj", "interagency-consultation", on(day, 1), NOT_KNOWN)
            .await?;
        for (i, who) in ["mia", "prosecutor-general", "supreme-court"]
            .iter()
            .enumerate()
        {
            r.approve(who, on(day, 2 + i as u32), PLACEHOLDER).await?;
        }
        r.advance("moj", "request", on(day, 5), NOT_KNOWN).await?;
        r.advance("mfa", "consultation-of-parties", on(day, 6), NOT_KNOWN)
            .await?;
        r.advance("embassy-france", "invitation", on(day, 7), NOT_KNOWN)
            .await?;
        r.advance("mfa", "parliament", on(day, 8), NOT_KNOWN)
            .await?;
        r.stated = None;
        r.record(
            "jogorku-kenesh",
            "law_adopted_date",
            "2023-12-20",
            on(day, 9),
        )
        .await?;
        r.advance(
            "jogorku-kenesh",
            "signature-publication",
            on(day, 10),
            "Law on accession adopted by the Jogorku Kenesh.",
        )
        .await?;
        // The signature was reported on 2024-01-31: on or before that day.
        r.stated = Some(not_known_after("2024-01-31"));
        r.record(
            "presidential-administration",
            "law_signed_date",
            "2024-01-31",
            on("2024-01-31", 0),
        )
        .await?;
        // Published some time before the deposit: the day is not known.
        r.stated = Some(not_known_after("2024-04-22"));
        r.advance(
            "presidential-administration",
            "deposit",
            on("2024-04-22", 0),
            "Law signed by the President (reported 2024-01-31) and published; the day of \
             publication is not known.",
        )
        .await?;
        r.stated = None;
        r.record("mfa", "deposit_date", "2024-04-22", on("2024-04-22", 1))
            .await?;
        r.advance(
            "mfa",
            "awaiting-entry-into-force",
            on("2024-04-22", 2),
            "Instrument of accession deposited with the Secretary General.",
        )
        .await?;
        r.advance(
            "mfa",
            "party",
            on("2024-08-01", 0),
            "In force for the Kyrgyz Republic from 1 August 2024.",
        )
        .await?;
        Ok(())
    }
}

/// Known only to have happened on or before `day`.
fn not_known_after(day: &str) -> Stated {
    Stated {
        on: Some(day.parse().expect("demo dates are valid")),
        approximate: true,
    }
}

/// Acts of the demo, each at its own historical moment, as the institution that made it.
struct Replay<'a> {
    app: &'a Accession,
    procedure: ProcedureId,
    /// When the acts recorded next took effect, if not when recorded.
    stated: Option<Stated>,
}

impl<'a> Replay<'a> {
    fn new(app: &'a Accession, procedure: ProcedureId) -> Self {
        Self {
            app,
            procedure,
            stated: None,
        }
    }

    async fn actor(&self, institution: &str) -> Result<Actor, AppError> {
        let mut actor = self
            .app
            .actor(&id(InstitutionId::parse, institution), None, "demo")
            .await?;
        if actor.role == Role::Coordinator {
            actor.name = "demo (coordinator)".into();
        }
        Ok(actor)
    }

    async fn start(&mut self, convention: &str, at: DateTime<Utc>) -> Result<(), AppError> {
        let actor = self.actor("mfa").await?;
        let cmd = StartProcedure {
            id: self.procedure.clone(),
            state: id(StateCode::parse, "KG"),
            convention: id(ConventionId::parse, convention),
            comment: Some(
                "Opened after the Strasbourg seminar on six Council of Europe conventions.".into(),
            ),
        };
        self.app
            .start_at(&id(WorkflowId::parse, WORKFLOW), &cmd, &actor, at)
            .await?;
        Ok(())
    }

    async fn act(
        &mut self,
        institution: &str,
        act: Act,
        at: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let actor = self.actor(institution).await?;
        let version = self
            .app
            .store
            .procedure(&self.procedure)
            .await?
            .map(|p| p.version)
            .ok_or_else(|| AppError::NotFound {
                what: "procedure",
                id: self.procedure.to_string(),
            })?;
        let cmd = Command {
            expected_version: version,
            act,
        };
        self.app
            .act_at(&self.procedure, &cmd, self.stated, &actor, at)
            .await?;
        Ok(())
    }

    async fn advance(
        &mut self,
        who: &str,
        to: &str,
        at: DateTime<Utc>,
        comment: &str,
    ) -> Result<(), AppError> {
        let act = Act::Advance {
            to: id(StageId::parse, to),
            comment: Some(comment.into()),
        };
        self.act(who, act, at).await
    }

    async fn approve(
        &mut self,
        who: &str,
        at: DateTime<Utc>,
        comment: &str,
    ) -> Result<(), AppError> {
        self.act(
            who,
            Act::Approve {
                comment: Some(comment.into()),
            },
            at,
        )
        .await
    }

    async fn record(
        &mut self,
        who: &str,
        field: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let act = Act::Record {
            field: id(FieldName::parse, field),
            value: value.into(),
            comment: None,
            source: None,
        };
        self.act(who, act, at).await
    }
}
