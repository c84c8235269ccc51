//! `tokens create|list|revoke|feed-key`: the API's bearer tokens and their calendar feeds. A
//! token's secret is printed once, by `create`, and a feed's address once, by `feed-key`, each on
//! stdout alone so it can be piped into a secret store; lists show neither.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::Cli;
use super::output::{outln, print_json, table};
use crate::app::{Accession, AppError};
use crate::engine::Role;
use crate::ids::InstitutionId;
use crate::store::TokenRow;

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token acting for an institution in a role. The token is printed once, on
    /// stdout; only its hash is kept, so it cannot be shown again.
    Create {
        /// The institution it acts for (an id from `institutions list`).
        #[arg(long)]
        institution: InstitutionId,
        /// What it may do: ministry (act on the stages its institution owns), coordinator
        /// (everything of the procedures), auditor (read and verify) or admin (tokens, outbox).
        #[arg(long, value_enum)]
        role: Role,
        /// Who or what will use it (also the actor's name in the history).
        #[arg(long)]
        name: String,
    },
    /// List tokens: their prefix, who they act for, when last used and whether revoked.
    List,
    /// Revoke a token: requests with it are refused from now on, and its calendar feed stops.
    Revoke {
        /// The token's number, as `tokens list` shows it.
        id: i64,
    },
    /// Make a new calendar feed key for a token and print the feed's address (the iCalendar feed
    /// of the token's institution), once: only the key's hash is kept. The previous address, if
    /// any, stops working at once.
    FeedKey {
        /// The token's number, as `tokens list` shows it.
        id: i64,
    },
}

impl TokensCmd {
    /// Whether the command only reads (and so works on a read-only database).
    pub fn reads_only(&self) -> bool {
        matches!(self, TokensCmd::List)
    }
}

pub async fn run(app: &Accession, cli: &Cli, cmd: &TokensCmd) -> Result<u8, AppError> {
    match cmd {
        TokensCmd::Create {
            institution,
            role,
            name,
        } => {
            let new = app
                .create_token(&operator(), institution, *role, name)
                .await?;
            if cli.json {
                print_json(&new);
            } else {
                outln!("{}", new.token);
            }
            eprintln!(
                "token {} ({} {} `{}`) created; it is shown only this once, keep it now",
                new.row.id, new.row.institution, new.row.role, new.row.name
            );
            Ok(0)
        }
        TokensCmd::List => {
            let rows = app.tokens(&operator()).await?;
            if cli.json {
                print_json(&rows);
            } else {
                table(
                    &[
                        "ID",
                        "PREFIX",
                        "INSTITUTION",
                        "ROLE",
                        "NAME",
                        "CREATED",
                        "LAST USED",
                        "REVOKED",
                    ],
                    rows.iter().map(row_cells),
                );
            }
            Ok(0)
        }
        TokensCmd::FeedKey { id } => {
            let new = app.renew_feed_key(&operator(), None, *id).await?;
            if cli.json {
                print_json(&new);
            } else {
                outln!("{}", new.url);
            }
            let t = &new.token;
            eprintln!(
                "calendar feed of token {} ({} {} `{}`) made; the address is shown only this \
                 once, and any earlier one no longer works",
                t.id, t.institution, t.role, t.name
            );
            Ok(0)
        }
        TokensCmd::Revoke { id } => {
            let row = app.revoke_token(&operator(), *id).await?;
            if cli.json {
                print_json(&row);
            } else {
                outln!(
                    "token {} ({} {} `{}`) revoked at {}",
                    row.id,
                    row.institution,
                    row.role,
                    row.name,
                    row.revoked_at.map(when).unwrap_or_default()
                );
            }
            Ok(0)
        }
    }
}

fn row_cells(r: &TokenRow) -> Vec<String> {
    vec![
        r.id.to_string(),
        format!("{}…", r.prefix),
        r.institution.to_string(),
        r.role.to_string(),
        r.name.clone(),
        when(r.created_at),
        r.last_used_at.map(when).unwrap_or_else(|| "never".into()),
        r.revoked_at.map(when).unwrap_or_else(|| "-".into()),
    ]
}

fn when(at: DateTime<Utc>) -> String {
    super::output::time(at)
}

/// Whoever runs the command line on the server: the service's administrator.
fn operator() -> crate::engine::Actor {
    crate::engine::Actor::operator(super::operator_name())
}
