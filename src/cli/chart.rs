//! `chart`: a convention's States, or a State's conventions, as the Treaty Office's chart shows
//! them, as the record stood on a day.

use chrono::NaiveDate;
use clap::{ArgGroup, Args};

use super::Cli;
use super::output::{outln, print_json, table};
use crate::app::chart::{Chart, ChartOf, chart_csv};
use crate::app::{Accession, AppError};
use crate::ids::{ConventionId, StateCode};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("of").required(true).args(["convention", "state"])))]
pub struct ChartArgs {
    /// One row per State that has a procedure for this convention, e.g. `ets-112`.
    #[arg(long)]
    convention: Option<ConventionId>,
    /// One row per convention this State has a procedure for, e.g. `KG`.
    #[arg(long)]
    state: Option<StateCode>,
    /// The record as it stood at the end of this day (YYYY-MM-DD); default: today.
    #[arg(long, value_name = "DATE", value_parser = crate::engine::effective::parse_day)]
    as_of: Option<NaiveDate>,
    /// CSV instead of a table.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
}

pub async fn run(app: &Accession, cli: &Cli, args: &ChartArgs) -> Result<u8, AppError> {
    let of = match (&args.convention, &args.state) {
        (Some(c), _) => ChartOf::Convention(c.clone()),
        (None, Some(s)) => ChartOf::State(s.clone()),
        (None, None) => unreachable!("clap requires one"),
    };
    let operator = crate::engine::Actor::operator(super::operator_name());
    let chart = app.chart(&operator, &of, args.as_of).await?;
    if cli.json {
        print_json(&chart);
    } else if args.csv {
        let bytes = chart_csv(&chart).map_err(|e| AppError::Invalid(e.to_string()))?;
        outln!("{}", String::from_utf8_lossy(&bytes).trim_end());
    } else {
        print_table(&chart);
    }
    Ok(0)
}

fn print_table(chart: &Chart) {
    let date = |d: Option<NaiveDate>| d.map_or_else(|| "-".to_string(), |d| d.to_string());
    outln!("as of {}", chart.as_of);
    for (members, heading) in [(true, "Members"), (false, "Non-members")] {
        let rows: Vec<_> = chart
            .rows
            .iter()
            .filter(|r| r.coe_member == members)
            .collect();
        if rows.is_empty() {
            continue;
        }
        outln!("{heading}");
        table(
            &[
                "STATE",
                "CONVENTION",
                "SIGNATURE",
                "DEPOSIT",
                "NOTE",
                "ENTRY INTO FORCE",
                "STATUS",
                "R D A T",
            ],
            rows.iter().map(|r| {
                vec![
                    format!("{} ({})", r.state_name, r.state),
                    r.convention_number.clone(),
                    date(r.signature),
                    date(r.deposit),
                    r.deposit_note.clone().unwrap_or_else(|| "-".into()),
                    match r.entry_into_force {
                        Some(d) if r.in_force => format!("{d} (in force)"),
                        Some(d) => d.to_string(),
                        None => "-".into(),
                    },
                    r.status.as_str().to_string(),
                    [
                        (r.reservations, 'R'),
                        (r.declarations, 'D'),
                        (r.authorities, 'A'),
                        (r.territorial_application, 'T'),
                    ]
                    .iter()
                    .map(|(on, c)| if *on { *c } else { '-' })
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join(" "),
                ]
            }),
        );
    }
    if chart.rows.is_empty() {
        outln!("(no procedure had started by then)");
    }
}
