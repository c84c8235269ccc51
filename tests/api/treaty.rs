//! Treaty practice on the procedure page: the forms of the new acts (extending the invitation
//! and a stage's deadline, raising and withdrawing objections, recording entry into force as the
//! depositary's own date) are offered only to whom the engine lets do them; the invitation's
//! validity with its extensions, the extended deadline, the objections and the computed and
//! recorded entry into force are shown; a refused form comes back as typed, with the rule's
//! message.

use accession::engine::Role;
use reqwest::StatusCode;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;
use crate::web::signed_in;

const ID: &str = "kg-cets-210";

/// Someone signed in to the pages, reading them in English.
struct Person<'a> {
    server: &'a Server,
    client: reqwest::Client,
    session: String,
    csrf: String,
}

impl<'a> Person<'a> {
    async fn new(server: &'a Server, institution: &str, role: Role) -> Person<'a> {
        let (client, session) = signed_in(server, server.token(institution, role)).await;
        let english = client
            .get(format!("{}/lang?to=en", server.base))
            .header("Cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(english.status(), StatusCode::SEE_OTHER);
        let mut person = Person {
            server,
            client,
            session,
            csrf: String::new(),
        };
        let (_, home) = person.get("/").await;
        person.csrf = home
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a form's CSRF secret")
            .to_string();
        person
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.server.base))
            .header("Cookie", &self.session)
            .send()
            .await
            .unwrap();
        (r.status(), unescape(r.text().await.unwrap()))
    }

    /// The procedure's page, which must render.
    async fn page(&self) -> String {
        let (status, page) = self.get(&format!("/procedures/{ID}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    }

    /// Post the act form `fields` (with the CSRF secret and the current version): the status
    /// and, for a refusal, the page shown again.
    async fn post(&self, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let version = self.server.etag(ID).await.trim_matches('"').to_string();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &self.csrf), ("version", &version)];
        form.extend_from_slice(fields);
        let r = self
            .client
            .post(format!("{}/procedures/{ID}/act", self.server.base))
            .header("Cookie", &self.session)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let body = unescape(r.text().await.unwrap());
        if status == StatusCode::SEE_OTHER {
            let act = fields.iter().find(|(k, _)| *k == "act").unwrap().1;
            let done = act.replace('-', "_").replace("record_eif", "record");
            assert_eq!(
                location.as_deref(),
                Some(format!("/procedures/{ID}?done={done}").as_str())
            );
        }
        (status, body)
    }

    /// Post `fields`, which must be done.
    async fn done(&self, fields: &[(&str, &str)]) {
        let (status, page) = self.post(fields).await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{fields:?}: {}",
            flash(&page)
        );
    }
}

/// `page` as it reads: the escapes of the text undone (the page escapes `'` and `&`).
fn unescape(page: String) -> String {
    page.replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The forms a page offers, by their act.
fn forms(page: &str) -> Vec<String> {
    page.split("class=\"act\" data-act=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// The form of `act` on `page`, from its tag to its end.
fn form<'p>(page: &'p str, act: &str) -> &'p str {
    let start = page
        .find(&format!("data-act=\"{act}\""))
        .unwrap_or_else(|| panic!("no {act} form: {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</form>").unwrap()]
}

/// The flash message of a page.
fn flash(page: &str) -> &str {
    page.split("id=\"flash\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or("(no flash)")
}

/// The element with `id` on `page`, up to its end tag.
fn element<'p>(page: &'p str, id: &str, end: &str) -> &'p str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}: {page}"));
    let rest = &page[start..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

const TREATY_FORMS: [&str; 5] = [
    "extend-invitation",
    "extend-deadline",
    "raise-objection",
    "withdraw-objection",
    "record-eif",
];

/// Which of the treaty forms `who` sees on the page.
async fn treaty_forms(server: &Server, institution: &str, role: Role) -> Vec<String> {
    let page = Person::new(server, institution, role).await.page().await;
    forms(&page)
        .into_iter()
        .filter(|f| TREATY_FORMS.contains(&f.as_str()))
        .collect()
}

async fn the_treaty_acts_are_offered_only_to_whom_may_do_them(db: &TestDb) {
    let server = Server::start(db).await;
    // In legal review, before any invitation: the coordinator may extend the stage's deadline,
    // hear an objection and record a depositary's date; nobody may extend an invitation that
    // is not recorded, nor withdraw an objection nobody raised.
    assert_eq!(
        treaty_forms(&server, "mfa", Role::Coordinator).await,
        ["record-eif", "extend-deadline", "raise-objection"]
    );
    // The Ministry of Justice is responsible for the stage, not for entry into force.
    assert_eq!(
        treaty_forms(&server, "moj", Role::Ministry).await,
        ["extend-deadline", "raise-objection"]
    );
    // Parliament has nothing to do in legal review; auditors and admins do no act.
    for (institution, role) in [
        ("jogorku-kenesh", Role::Ministry),
        ("mfa", Role::Auditor),
        ("mfa", Role::Admin),
    ] {
        assert_eq!(
            treaty_forms(&server, institution, role).await,
            Vec::<String>::new(),
            "{institution} {role}"
        );
    }
    // A form posted by whom may not do the act is refused by the engine, and changes nothing.
    let parliament = Person::new(&server, "jogorku-kenesh", Role::Ministry).await;
    let before = server.history_len(ID).await;
    let (status, page) = parliament
        .post(&[
            ("act", "raise-objection"),
            ("party", "FR"),
            ("text", "not ours to say"),
        ])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", flash(&page));
    // The institutions that may, by name.
    assert!(flash(&page).contains("Jogorku Kenesh"), "{}", flash(&page));
    assert_eq!(server.history_len(ID).await, before);

    // With the invitation recorded, the coordinator may extend it, and no objection is heard.
    let mfa = Person::new(&server, "mfa", Role::Coordinator).await;
    mfa.done(&[
        ("act", "record"),
        ("field", "invitation_date"),
        ("value", "2025-03-10"),
    ])
    .await;
    assert_eq!(
        treaty_forms(&server, "mfa", Role::Coordinator).await,
        ["record-eif", "extend-invitation", "extend-deadline"]
    );
    assert_eq!(
        treaty_forms(&server, "moj", Role::Ministry).await,
        ["extend-deadline"]
    );
    // The API's allowed acts say the same, by the endpoints' names.
    let shown = server
        .get(
            &format!("/api/v1/procedures/{ID}"),
            server.token("mfa", Role::Coordinator),
        )
        .await
        .expect(StatusCode::OK);
    let acts: Vec<String> = shown.json()["allowed_acts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["act"].as_str())
        .filter(|a| a.starts_with("extend") || a.contains("objection"))
        .map(str::to_string)
        .collect();
    assert_eq!(acts, ["extend-invitation", "extend-deadline"]);
}
on_both!(the_treaty_acts_are_offered_only_to_whom_may_do_them);

async fn objections_are_raised_and_withdrawn_on_the_page_and_a_refusal_keeps_what_was_typed(
    db: &TestDb,
) {
    let server = Server::start(db).await;
    let mfa = Person::new(&server, "mfa", Role::Coordinator).await;
    let page = mfa.page().await;
    assert!(page.contains("No Party has objected."), "{page}");

    // A code that is no State's: refused before the engine, the form as typed.
    let (status, page) = mfa
        .post(&[
            ("act", "raise-objection"),
            ("party", "France"),
            ("text", "Asks for more time"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{}", flash(&page));
    assert!(flash(&page).contains("`party`"), "{}", flash(&page));
    let raise = form(&page, "raise-objection");
    assert!(raise.contains("value=\"France\""), "{raise}");
    assert!(raise.contains(">Asks for more time</textarea>"), "{raise}");

    mfa.done(&[
        ("act", "raise-objection"),
        ("party", "fr"),
        ("text", "Asks for more time to study the request"),
    ])
    .await;
    let page = mfa.page().await;
    let objections = element(&page, "objections", "</table>");
    assert!(objections.contains("data-party=\"FR\""), "{objections}");
    assert!(objections.contains("2026-11-02"), "{objections}");
    assert!(objections.contains("standing"), "{objections}");
    assert!(
        objections.contains("Asks for more time to study the request"),
        "{objections}"
    );
    assert!(
        form(&page, "withdraw-objection").contains("<option value=\"FR\""),
        "{page}"
    );

    // The invitation may not be recorded while the objection stands: the rule is named, and the
    // record form keeps the field and the date.
    let before = server.history_len(ID).await;
    let (status, page) = mfa
        .post(&[
            ("act", "record"),
            ("field", "invitation_date"),
            ("value", "2025-03-10"),
            ("comment", "CM decision"),
        ])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{}", flash(&page));
    let message = flash(&page);
    assert!(
        message.contains("no-invitation-while-objection-stands") && message.contains("FR"),
        "{message}"
    );
    let record = form(&page, "record");
    assert!(
        record.contains("<option value=\"invitation_date\" selected>"),
        "{record}"
    );
    assert!(record.contains("value=\"2025-03-10\""), "{record}");
    assert!(record.contains("value=\"CM decision\""), "{record}");
    // Only the refused form is filled in again.
    assert!(!form(&page, "comment").contains("CM decision"));
    assert_eq!(server.history_len(ID).await, before);

    mfa.done(&[
        ("act", "withdraw-objection"),
        ("party", "FR"),
        ("comment", "Satisfied by the explanations"),
    ])
    .await;
    let page = mfa.page().await;
    let objections = element(&page, "objections", "</table>");
    assert!(!objections.contains("standing"), "{objections}");
    assert!(!forms(&page).contains(&"withdraw-objection".to_string()));
    mfa.done(&[
        ("act", "record"),
        ("field", "invitation_date"),
        ("value", "2025-03-10"),
    ])
    .await;
    // The consultation is over: no objection is heard any more.
    assert!(!forms(&mfa.page().await).contains(&"raise-objection".to_string()));
}
on_both!(objections_are_raised_and_withdrawn_on_the_page_and_a_refusal_keeps_what_was_typed);

async fn the_invitation_its_extensions_the_deadline_and_entry_into_force_are_shown(db: &TestDb) {
    let server = Server::start(db).await;
    let mfa = Person::new(&server, "mfa", Role::Coordinator).await;
    for (field, value) in [
        ("request_date", "2025-01-10"),
        ("invitation_date", "2025-03-10"),
    ] {
        mfa.done(&[("act", "record"), ("field", field), ("value", value)])
            .await;
    }
    // Valid five years from the day after the decision.
    let page = mfa.page().await;
    let invitation = element(&page, "invitation", "</li>");
    assert!(
        invitation.contains("2025-03-10") && invitation.contains("(2030-03-11)"),
        "{invitation}"
    );
    assert!(!invitation.contains("extended to"), "{invitation}");

    // Not a date, then a day before the present validity: refused, the form as typed.
    let decision = "CM/Del/Dec(2026)1500/10.2";
    for (until, status, says) in [
        (
            "31.12.2031",
            StatusCode::UNPROCESSABLE_ENTITY,
            "is not a date; write it as YYYY-MM-DD",
        ),
        (
            "2030-03-01",
            StatusCode::CONFLICT,
            "extension-later-than-before",
        ),
    ] {
        let before = server.history_len(ID).await;
        let (got, page) = mfa
            .post(&[
                ("act", "extend-invitation"),
                ("until", until),
                ("decision", decision),
            ])
            .await;
        assert_eq!(got, status, "{}", flash(&page));
        assert!(flash(&page).contains(says), "{}", flash(&page));
        let extend = form(&page, "extend-invitation");
        assert!(extend.contains(&format!("value=\"{until}\"")), "{extend}");
        assert!(
            extend.contains(&format!("value=\"{decision}\"")),
            "{extend}"
        );
        assert_eq!(server.history_len(ID).await, before);
    }
    mfa.done(&[
        ("act", "extend-invitation"),
        ("until", "2031-03-31"),
        ("decision", decision),
    ])
    .await;
    let page = mfa.page().await;
    let invitation = element(&page, "invitation", "</ul>");
    assert!(invitation.contains("(2031-03-31)"), "{invitation}");
    assert!(
        invitation.contains("by the convention's rule: 2030-03-11"),
        "{invitation}"
    );
    assert!(
        invitation.contains(&format!(
            "extended to 2031-03-31 · by decision {decision} (was 2030-03-11)"
        )),
        "{invitation}"
    );

    // The stage's deadline (legal review, due 2023-12-01) extended, with the reason.
    mfa.done(&[
        ("act", "extend-deadline"),
        ("until", "2026-12-31"),
        ("reason", "The Ministry of Justice asked for time"),
    ])
    .await;
    let page = mfa.page().await;
    let extension = element(&page, "deadline-extension", "</p>");
    assert!(
        extension.contains("2026-12-31: The Ministry of Justice asked for time"),
        "{extension}"
    );
    assert!(page.contains("Due on: 2026-12-31"), "{page}");

    // The deposit; entry into force by the rule is computed from it.
    mfa.done(&[
        ("act", "record"),
        ("field", "deposit_date"),
        ("value", "2025-06-05"),
    ])
    .await;
    let page = mfa.page().await;
    let eif = element(&page, "entry-into-force", "</li>");
    assert!(eif.contains("2025-10-01 (computed)"), "{eif}");
    assert!(!eif.contains("recorded"), "{eif}");
    // Another date in the record form: refused, the rule's date named.
    let (status, page) = mfa
        .post(&[
            ("act", "record"),
            ("field", "entry_into_force_date"),
            ("value", "2025-11-01"),
        ])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{}", flash(&page));
    let message = flash(&page);
    assert!(
        message.contains("entry-into-force-by-the-rule") && message.contains("2025-10-01"),
        "{message}"
    );
    // The depositary's own form asks for its source.
    let (status, page) = mfa
        .post(&[
            ("act", "record-eif"),
            ("field", "entry_into_force_date"),
            ("value", "2025-11-01"),
            ("source", " "),
        ])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{}", flash(&page));
    assert!(
        flash(&page).contains("Fill in “Source”"),
        "{}",
        flash(&page)
    );
    assert!(
        form(&page, "record-eif").contains("value=\"2025-11-01\""),
        "{page}"
    );
    mfa.done(&[
        ("act", "record-eif"),
        ("field", "entry_into_force_date"),
        ("value", "2025-11-01"),
        (
            "source",
            "Treaty Office chart of signatures and ratifications",
        ),
    ])
    .await;
    let page = mfa.page().await;
    let eif = element(&page, "entry-into-force", "</li>");
    assert!(
        eif.contains(
            "2025-10-01 (computed), 2025-11-01 (recorded, the depositary's own date: Treaty \
             Office chart of signatures and ratifications)"
        ),
        "{eif}"
    );
    assert!(eif.contains("differs from the computed date"), "{eif}");
    // The Russian page renders the same facts.
    let ru = mfa
        .client
        .get(format!("{}/lang?to=ru", server.base))
        .header("Cookie", &mfa.session)
        .send()
        .await
        .unwrap();
    assert_eq!(ru.status(), StatusCode::SEE_OTHER);
    let page = mfa.page().await;
    assert!(page.contains("по правилу конвенции: 2030-03-11"), "{page}");
}
on_both!(the_invitation_its_extensions_the_deadline_and_entry_into_force_are_shown);
