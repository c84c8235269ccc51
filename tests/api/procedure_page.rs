//! The procedure page as a clerk works from it: withdrawing asks once more before anything
//! changes, and a refused form comes back with what was typed in it.

use accession::engine::Role;
use reqwest::StatusCode;

use crate::harness::{Server, SignIn};
use crate::on_both;
use crate::support::TestDb;

const ID: &str = "kg-cets-210";

/// Signed in as `institution`: the client, its session cookie and the form secret.
async fn clerk(
    server: &Server,
    institution: &str,
    role: Role,
) -> (reqwest::Client, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let SignIn { session, .. } = server
        .sign_in(&client, server.token(institution, role), "")
        .await;
    let session = session.expect("a session");
    let csrf = server
        .app
        .session(session.trim_start_matches("accession_session="))
        .await
        .unwrap()
        .expect("a live session")
        .row
        .csrf;
    (client, session, csrf)
}

async fn post(
    server: &Server,
    (client, session, csrf): &(reqwest::Client, String, String),
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let version = server.etag(ID).await.trim_matches('"').to_string();
    let mut form = vec![("csrf", csrf.as_str()), ("version", version.as_str())];
    form.extend_from_slice(fields);
    let answer = client
        .post(format!("{}/procedures/{ID}/act", server.base))
        .header("Cookie", session)
        .form(&form)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

async fn status_of(server: &Server) -> &'static str {
    let p = server
        .app
        .store_for_tests()
        .procedure(&ID.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    p.status.as_str()
}

async fn a_withdrawal_is_confirmed_before_anything_changes(db: &TestDb) {
    let server = Server::start(db).await;
    let mfa = clerk(&server, "mfa", Role::Coordinator).await;
    let before = server.history_len(ID).await;
    let reason = "The Government decided to wait";

    let (status, page) = post(&server, &mfa, &[("act", "withdraw"), ("reason", reason)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"confirm-withdraw\""), "{page}");
    assert!(page.contains("name=\"confirm\" value=\"yes\""), "{page}");
    assert!(page.contains(reason), "the reason is repeated: {page}");
    assert_eq!(server.history_len(ID).await, before, "nothing written");
    assert_eq!(status_of(&server).await, "active");

    let (status, page) = post(
        &server,
        &mfa,
        &[("act", "withdraw"), ("reason", reason), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(server.history_len(ID).await, before + 1);
    assert_eq!(status_of(&server).await, "withdrawn");
}
on_both!(a_withdrawal_is_confirmed_before_anything_changes);

/// A ministry records a field on a stage it does not own: refused, and the page shows the value
/// it typed and the field it chose, with the message in the form.
async fn a_refused_form_comes_back_as_it_was_typed(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = clerk(&server, "moj", Role::Ministry).await;
    let before = server.history_len(ID).await;
    let typed = "MoJ/2025/17 draft";
    let (status, page) = post(
        &server,
        &moj,
        &[
            ("act", "record"),
            ("field", "no_such_field"),
            ("value", typed),
        ],
    )
    .await;
    assert!(status.is_client_error(), "{status}: {page}");
    assert_eq!(server.history_len(ID).await, before, "nothing written");
    assert!(page.contains(typed), "the typed value is kept: {page}");
    assert!(
        page.contains("class=\"field-error\""),
        "the message is in the form: {page}"
    );
}
on_both!(a_refused_form_comes_back_as_it_was_typed);
