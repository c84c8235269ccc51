//! The reservations' reminders, in the transaction of the act that plans them again. The
//! reservations themselves are the procedure's treaty record (`procedures.treaty`), written with
//! the procedure row by `apply`.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::entities::timer;
use super::{StoreError, TimerStatus};
use crate::engine::TimerKind;
use crate::ids::ProcedureId;

/// Cancel the pending reservation reminders of `procedure` (before new ones are set).
pub(super) async fn cancel_reminders(
    txn: &DatabaseTransaction,
    procedure: &ProcedureId,
) -> Result<(), StoreError> {
    timer::Entity::update_many()
        .col_expr(
            timer::Column::Status,
            Expr::value(TimerStatus::Cancelled.as_str()),
        )
        .filter(timer::Column::ProcedureId.eq(procedure.to_string()))
        .filter(super::status_is(
            timer::Column::Status,
            TimerStatus::Pending.as_str(),
        ))
        .filter(timer::Column::Kind.eq(TimerKind::ReservationExpiry.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}
