//! `accounts create|list|disable|token|sessions|end-session`: officials' accounts, made by whoever
//! runs the command line on the server (the service's administrator). People sign in to the
//! pages by a link mailed to their address; `token` makes an API token that acts as the person.

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::Cli;
use super::output::{outln, print_json, table};
use crate::app::{Accession, AppError, MAX_LIST};
use crate::engine::Role;
use crate::ids::InstitutionId;
use crate::store::AccountRow;

#[derive(Debug, Subcommand)]
pub enum AccountsCmd {
    /// Create an account for an official: they can then ask for a sign-in link at the sign-in
    /// page, sent to this address.
    Create {
        /// The person's full name, as the history will show it.
        #[arg(long)]
        name: String,
        /// Their email address: where sign-in links go (one account per address).
        #[arg(long)]
        email: String,
        /// The institution they work for (an id from `institutions list`).
        #[arg(long)]
        institution: InstitutionId,
        /// What they may do.
        #[arg(long, value_enum)]
        role: Role,
    },
    /// List accounts, oldest first, a page at a time.
    List {
        /// Accounts to skip.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Accounts to show (at most 200).
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Disable an account: its sessions end and its tokens stop working at once, and it is
    /// sent no sign-in link any more. The account stays, as the history names it.
    Disable {
        /// The account's id (from `accounts list`).
        id: i64,
    },
    /// Make an API token that acts as the person of an account; printed once, on stdout.
    Token {
        /// The account's id (from `accounts list`).
        id: i64,
        /// What the token is for (e.g. "laptop script"), to tell it apart in lists.
        #[arg(long)]
        name: String,
    },
    /// List live page sessions, newest first.
    Sessions {
        /// Sessions to skip.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Sessions to show (at most 200).
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// End a page session (its browser is signed out at its next request).
    EndSession {
        /// The session's id (from `accounts sessions`).
        id: i64,
    },
}

impl AccountsCmd {
    /// Whether the command only reads (and so works on a read-only database).
    pub fn reads_only(&self) -> bool {
        matches!(
            self,
            AccountsCmd::List { .. } | AccountsCmd::Sessions { .. }
        )
    }
}

fn check_limit(limit: u64) -> Result<u64, AppError> {
    if limit == 0 || limit > MAX_LIST {
        return Err(AppError::Invalid(format!(
            "--limit is {limit}; it must be between 1 and {MAX_LIST}"
        )));
    }
    Ok(limit)
}

pub async fn run(app: &Accession, cli: &Cli, cmd: &AccountsCmd) -> Result<u8, AppError> {
    let op = operator();
    match cmd {
        AccountsCmd::Create {
            name,
            email,
            institution,
            role,
        } => {
            let row = app
                .create_account(&op, name, email, institution, *role)
                .await?;
            if cli.json {
                print_json(&row);
            } else {
                outln!(
                    "account {} created: {} <{}>, {} {}; they sign in with a link sent to that \
                     address (the sign-in page, \"Email me a link\")",
                    row.id,
                    row.name,
                    row.email,
                    row.institution,
                    row.role
                );
            }
            Ok(0)
        }
        AccountsCmd::List { offset, limit } => {
            let page = app.accounts(&op, *offset, check_limit(*limit)?).await?;
            if cli.json {
                print_json(&page);
            } else {
                table(
                    &[
                        "ID",
                        "NAME",
                        "EMAIL",
                        "INSTITUTION",
                        "ROLE",
                        "CREATED",
                        "DISABLED",
                    ],
                    page.items.iter().map(row_cells),
                );
                if page.offset + (page.items.len() as u64) < page.total {
                    eprintln!(
                        "{} of {} shown; the next with --offset {}",
                        page.items.len(),
                        page.total,
                        page.offset + page.items.len() as u64
                    );
                }
            }
            Ok(0)
        }
        AccountsCmd::Disable { id } => {
            let d = app.disable_account(&op, *id).await?;
            if cli.json {
                print_json(&d);
            } else {
                outln!(
                    "account {} ({} <{}>) disabled at {}; {} token(s) revoked, {} session(s) \
                     ended",
                    d.account.id,
                    d.account.name,
                    d.account.email,
                    d.account.disabled_at.map(when).unwrap_or_default(),
                    d.tokens_revoked,
                    d.sessions_ended
                );
            }
            Ok(0)
        }
        AccountsCmd::Token { id, name } => {
            let new = app.create_account_token(&op, *id, name).await?;
            if cli.json {
                print_json(&new);
            } else {
                outln!("{}", new.token);
            }
            eprintln!(
                "token {} of account {} (`{}`) created; it is shown only this once, keep it now",
                new.row.id, id, new.row.name
            );
            Ok(0)
        }
        AccountsCmd::Sessions { offset, limit } => {
            let page = app.sessions(&op, *offset, check_limit(*limit)?).await?;
            if cli.json {
                print_json(&page);
            } else {
                table(
                    &[
                        "ID",
                        "ACCOUNT",
                        "NAME",
                        "INSTITUTION",
                        "ROLE",
                        "SINCE",
                        "UNTIL",
                    ],
                    page.items.iter().map(|s| {
                        vec![
                            s.id.to_string(),
                            s.account_id
                                .map(|a| a.to_string())
                                .unwrap_or_else(|| "-".into()),
                            s.name.clone(),
                            s.institution.to_string(),
                            s.role.to_string(),
                            when(s.created_at),
                            when(s.expires_at),
                        ]
                    }),
                );
            }
            Ok(0)
        }
        AccountsCmd::EndSession { id } => {
            app.end_session(&op, *id).await?;
            if cli.json {
                print_json(&serde_json::json!({ "ended": id }));
            } else {
                outln!("session {id} ended");
            }
            Ok(0)
        }
    }
}

fn row_cells(r: &AccountRow) -> Vec<String> {
    vec![
        r.id.to_string(),
        r.name.clone(),
        r.email.clone(),
        r.institution.to_string(),
        r.role.to_string(),
        when(r.created_at),
        r.disabled_at.map(when).unwrap_or_else(|| "-".into()),
    ]
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// Whoever runs the command line on the server: the service's administrator.
fn operator() -> crate::engine::Actor {
    crate::engine::Actor::operator(super::operator_name())
}
