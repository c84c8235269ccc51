//! The dashboard's urgency order (issue 15, "a dashboard that says what is urgent"): the most
//! overdue first, then the soonest due, then the procedures that are not active or have no due
//! day. The order key is an expression (an active procedure's due day, else 9999-12-31), indexed
//! with the id after it, so a page of the dashboard walks this index from its cursor and reads
//! its rows only, at 1,000,000 procedures as at ten. The text of the expression is the one the
//! store's read names (`store::reads::URGENCY`): both databases use an expression index only for
//! the expression it was made on.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "procedures_urgency_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX {NAME} ON procedures \
                 ((COALESCE(CASE WHEN status = 'active' THEN due_on END, '9999-12-31')), id)"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {NAME}"))
            .await?;
        Ok(())
    }
}
