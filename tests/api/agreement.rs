//! One rule for who may do what, asked by every front end: for each role and each use case, the
//! API, the pages and (where the CLI takes a caller: the acts) the CLI give the same answer, and
//! that answer is the table below — written out here, not derived from the code under test.

use std::process::Command;

use accession::engine::{Permission, Role};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;

/// The roles, each with a token's institution.
const WHO: [(&str, Role); 4] = [
    ("moj", Role::Ministry),
    ("mfa", Role::Coordinator),
    ("mfa", Role::Auditor),
    ("mfa", Role::Admin),
];

/// Whether `role` may: the product's rule, as the README states it.
fn expected(permission: Permission, role: Role) -> bool {
    use Permission::*;
    use Role::*;
    matches!(
        (permission, role),
        (ReadOutbox | RetryEmail, Coordinator | Admin)
            | (ReadTimers | ReadAudit, Coordinator | Auditor | Admin)
            | (ManageTokens | ManageAccounts, Admin)
    )
}

/// Whether a status means "not this role": 403. Anything else (200, or 404/409 for an email that
/// is not there or not dead) means the role passed the check.
fn allowed(status: StatusCode) -> bool {
    status != StatusCode::FORBIDDEN
}

async fn the_api_the_pages_and_the_cli_agree_on_who_may_do_what(db: &TestDb) {
    let server = Server::start(db).await;
    let client = server.client_from("127.0.0.1");
    let mut disagreements = Vec::new();
    for (institution, role) in WHO {
        let token = server.token(institution, role).to_string();
        let (session, csrf) = server.session_and_csrf(&client, &token).await;
        for permission in Permission::ALL {
            let api: Vec<(&str, Method, &str)> = match permission {
                Permission::ReadOutbox => vec![
                    ("api", Method::GET, "/api/v1/outbox"),
                    ("api", Method::GET, "/api/v1/outbox/1"),
                ],
                Permission::RetryEmail => vec![("api", Method::POST, "/api/v1/outbox/1/retry")],
                Permission::ReadTimers => vec![("api", Method::GET, "/api/v1/timers")],
                Permission::ReadAudit => vec![("api", Method::GET, "/api/v1/audit/verify")],
                Permission::ManageTokens => vec![("api", Method::GET, "/api/v1/tokens")],
                Permission::ManageAccounts => vec![
                    ("api", Method::GET, "/api/v1/accounts"),
                    ("api", Method::GET, "/api/v1/sessions"),
                ],
            };
            let pages: Vec<(Method, &str)> = match permission {
                Permission::ReadOutbox => vec![(Method::GET, "/outbox")],
                Permission::RetryEmail => vec![(Method::POST, "/outbox/1/retry")],
                Permission::ReadTimers => vec![(Method::GET, "/reminders")],
                Permission::ReadAudit => {
                    vec![
                        (Method::GET, "/audit"),
                        (Method::GET, "/audit/history.csv"),
                        (Method::GET, "/audit/history.json"),
                    ]
                }
                // Revoking one asks first: the question is the page, nothing is revoked.
                Permission::ManageTokens => vec![(Method::POST, "/tokens/1/revoke")],
                Permission::ManageAccounts => vec![(Method::GET, "/accounts")],
            };
            let want = expected(permission, role);
            for (_, method, path) in api {
                let reply = server
                    .send(method.clone(), path, Some(&token), &[], None)
                    .await;
                if allowed(reply.status) != want {
                    disagreements.push(format!(
                        "API {method} {path} as {institution} {role}: {} ({permission})",
                        reply.status
                    ));
                }
            }
            for (method, path) in pages {
                let mut request = client
                    .request(method.clone(), format!("{}{path}", server.base))
                    .header("Cookie", &session);
                if method == Method::POST {
                    request = request.form(&[("csrf", csrf.as_str())]);
                }
                let status = request.send().await.unwrap().status();
                if allowed(status) != want {
                    disagreements.push(format!(
                        "page {method} {path} as {institution} {role}: {status} ({permission})"
                    ));
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "front ends that disagree with the rule:\n{}",
        disagreements.join("\n")
    );

    // The CLI's other doors: their caller is whoever runs the command line on the server, the
    // operator, who holds the admin role; each answers as the rule says for an admin.
    let settings = db.settings();
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_accession"))
            .args(args)
            .env("ACCESSION__DATABASE__URL", &settings.database.url)
            .env("ACCESSION__WORKFLOWS__DIR", &settings.workflows.dir)
            .env(
                "ACCESSION__CALENDAR__HOLIDAYS",
                settings.calendar.holidays.as_ref().expect("a calendar"),
            )
            .env("ACCESSION__MAIL__OUTBOX_DIR", &settings.mail.outbox_dir)
            .output()
            .expect("the CLI runs")
    };
    for permission in Permission::ALL {
        let doors: &[&[&str]] = match permission {
            Permission::ReadOutbox => &[&["outbox", "list"]],
            Permission::RetryEmail => &[&["outbox", "retry", "--all-dead"]],
            // Upcoming timers have no CLI door: the API and the reminders page are theirs.
            Permission::ReadTimers => &[],
            Permission::ReadAudit => &[&["audit", "verify"]],
            Permission::ManageTokens => &[&["tokens", "list"]],
            Permission::ManageAccounts => &[&["accounts", "list"], &["accounts", "sessions"]],
        };
        for args in doors {
            let out = cli(args);
            assert_eq!(
                out.status.success(),
                expected(permission, Role::Admin),
                "CLI {} as the operator ({permission}): {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    // Acts: the CLI takes its caller from `--as` and `--role`. A comment is open to every role
    // that acts and to no other, over the API and the CLI alike.
    for (institution, role) in WHO {
        let version = server
            .send(
                Method::GET,
                "/api/v1/procedures/kg-cets-210",
                Some(server.token("mfa", Role::Auditor)),
                &[],
                None,
            )
            .await
            .expect(StatusCode::OK)
            .json()["version"]
            .as_i64()
            .expect("a version");
        let acts = matches!(role, Role::Ministry | Role::Coordinator);
        let out = cli(&[
            "procedures",
            "comment",
            "kg-cets-210",
            &format!("{role} by the CLI"),
            "--as",
            institution,
            "--role",
            role.as_str(),
            "--expected-version",
            &version.to_string(),
        ]);
        assert_eq!(
            out.status.success(),
            acts,
            "CLI comment as {institution} {role}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !acts {
            assert_eq!(out.status.code(), Some(1), "a refusal is exit 1");
        }
        let token = server.token(institution, role).to_string();
        let version = version + i64::from(acts);
        let reply = server
            .send(
                Method::POST,
                "/api/v1/procedures/kg-cets-210/comment",
                Some(&token),
                &[("If-Match", &format!("\"{version}\""))],
                Some(json!({"text": format!("{role} by the API")})),
            )
            .await;
        assert_eq!(
            reply.status.is_success(),
            acts,
            "API comment as {institution} {role}: {}",
            reply.text
        );
        if !acts {
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
        }
    }
}
on_both!(the_api_the_pages_and_the_cli_agree_on_who_may_do_what);
