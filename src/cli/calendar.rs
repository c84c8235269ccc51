//! `calendar entry-into-force`: the treaty date rules of a convention, asked directly.

use chrono::NaiveDate;
use clap::Subcommand;

use super::Cli;
use super::output::{outln, print_json};
use crate::app::{Accession, AppError};
use crate::ids::ConventionId;

#[derive(Debug, Subcommand)]
pub enum CalendarCmd {
    /// The date a convention enters into force for a State that deposits on a given day.
    EntryIntoForce {
        /// The convention, by id (`accession conventions list`), e.g. `ets-112`.
        #[arg(long)]
        convention: ConventionId,
        /// The date of deposit of the instrument (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
        deposit: NaiveDate,
    },
}

pub async fn run(app: &Accession, cli: &Cli, cmd: &CalendarCmd) -> Result<u8, AppError> {
    let CalendarCmd::EntryIntoForce {
        convention,
        deposit,
    } = cmd;
    let c = app
        .convention(convention)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "convention",
            id: convention.to_string(),
        })?;
    let date = c
        .entry_into_force
        .entry_into_force(*deposit, c.general_entry_into_force)
        .ok_or_else(|| AppError::Invalid(format!("{deposit} is too far in the future")))?;
    let reservations_until = c
        .reservation_regime()
        .and_then(|regime| regime.first_expiry(date));
    if cli.json {
        print_json(&serde_json::json!({
            "convention": c.id,
            "number": c.number,
            "deposit": deposit,
            "entry_into_force": date,
            "rule": {
                "months_after": c.entry_into_force.months_after,
                "not_before_general": c.entry_into_force.not_before_general,
                "general_entry_into_force": c.general_entry_into_force,
            },
            "reservations_valid_until": reservations_until,
        }));
    } else {
        outln!("{date}");
    }
    Ok(0)
}
