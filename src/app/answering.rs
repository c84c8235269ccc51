//! Acts done for a request that holds an idempotency key: the request's answer is made from the
//! view of what the act wrote and written in the act's own transaction, so the act is never
//! without its answer (a crash after the commit leaves both; one before leaves neither).

use chrono::{DateTime, Utc};

use super::{Accession, AppError, ProcedureView};
use crate::engine::{Actor, Command, Decision, ProcedureState, StartProcedure, Stated};
use crate::ids::WorkflowId;
use crate::store::{Answer, HeldKey, KeepAnswer};

/// The key a request holds and how its answer is made from the view of the procedure it wrote
/// (the caller's: status, headers and body are not the application's business).
#[derive(Clone, Copy)]
pub struct Answering<'a> {
    pub key: &'a HeldKey,
    pub answer: &'a (dyn Fn(&ProcedureView) -> Answer + Sync),
}

impl Accession {
    /// `start`, answering the request that holds `answering.key`.
    pub async fn start_answering(
        &self,
        workflow: &WorkflowId,
        cmd: &StartProcedure,
        actor: &Actor,
        answering: Answering<'_>,
    ) -> Result<Answer, AppError> {
        let now = self.now();
        let outcome = async {
            let decision = self.decide_start(workflow, cmd, actor, now).await?;
            let answer = self.apply_answering(&decision, answering).await?;
            Ok((decision, answer))
        }
        .await;
        self.observe(outcome.as_ref().map(|(decision, _)| decision));
        Ok(outcome?.1)
    }

    /// `act_on_stated`, answering the request that holds `answering.key`.
    pub async fn act_on_answering(
        &self,
        current: ProcedureState,
        cmd: &Command,
        stated: Option<Stated>,
        actor: &Actor,
        answering: Answering<'_>,
    ) -> Result<Answer, AppError> {
        self.act_on_answering_at(current, cmd, stated, actor, answering, self.now())
            .await
    }

    async fn act_on_answering_at(
        &self,
        current: ProcedureState,
        cmd: &Command,
        stated: Option<Stated>,
        actor: &Actor,
        answering: Answering<'_>,
        now: DateTime<Utc>,
    ) -> Result<Answer, AppError> {
        let cmd = self.rebased(&current, cmd).await?;
        let outcome = async {
            let decision = self
                .decide_stated(&current, &cmd, stated, actor, now)
                .await?;
            let answer = self.apply_answering(&decision, answering).await?;
            Ok((decision, answer))
        }
        .await;
        self.observe(outcome.as_ref().map(|(decision, _)| decision));
        Ok(outcome?.1)
    }

    /// Apply `decision` with its answer. The view is read before the transaction (definitions
    /// and conventions); only the pending timers, which the act itself may write, are read in it.
    async fn apply_answering(
        &self,
        decision: &Decision,
        answering: Answering<'_>,
    ) -> Result<Answer, AppError> {
        let mut view = self.view_without_timers(decision.procedure.clone()).await?;
        let answer = answering.answer;
        let keep = KeepAnswer {
            key: answering.key,
            answer: Box::new(move |timers| {
                view.timers = timers;
                answer(&view)
            }),
        };
        match self.store.apply_answering(decision, keep).await {
            Ok(answer) => Ok(answer),
            Err(e) => Err(self.naming_the_open_one(e, &decision.procedure).await),
        }
    }
}
