//! Reservations and declarations over HTTP: recorded, renewed and withdrawn through the API
//! (`If-Match`, RFC 9457 problems naming the rule, nothing written when refused), listed as JSON
//! and CSV, flagged on the chart as of a day; and on the procedure page, where the coordinator
//! records one with a form and the table shows it, and a ministry with nothing to do there sees
//! no form.

use accession::engine::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;
use crate::web::signed_in;

const ID: &str = "kg-ets-112";

async fn reservations_are_recorded_listed_and_withdrawn_over_the_api(db: &TestDb) {
    let server = Server::start(db).await;
    let mfa = server.token("mfa", Role::Coordinator);
    let path = format!("/api/v1/procedures/{ID}/reservations");
    let empty = server.get(&path, mfa).await.expect(StatusCode::OK).json();
    assert_eq!(empty["items"], json!([]));
    assert_eq!(
        empty["regime"],
        serde_json::Value::Null,
        "ETS 112: no time limit"
    );

    // Made at deposit, dated otherwise: a problem naming the rule; nothing written.
    let before = server.history_len(ID).await;
    let body = |on: &str| {
        json!({
            "kind": "declaration",
            "article": "Art. 3(3)",
            "text": {"en": "The Kyrgyz Republic declares …", "ru": "Кыргызская Республика заявляет …"},
            "made_at": "deposit",
            "made_on": on,
        })
    };
    let refused = server.act(ID, "reserve", mfa, body("2024-04-23")).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    let problem = refused.problem("date-refused");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("made-at-deposit-on-the-deposit-date"),
        "{problem}"
    );
    assert_eq!(server.history_len(ID).await, before);
    // A text keyed by no language code is invalid (422).
    let mut bad = body("2024-04-22");
    bad["text"] = json!({"English": "x"});
    server
        .act(ID, "reserve", mfa, bad)
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY)
        .problem("invalid-input");
    // Without If-Match: 428.
    let no_match = server
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/procedures/{ID}/reserve"),
            Some(mfa),
            &[],
            Some(body("2024-04-22")),
        )
        .await;
    assert_eq!(
        no_match.status,
        StatusCode::PRECONDITION_REQUIRED,
        "{}",
        no_match.text
    );
    // A ministry with no part in the deposit may not.
    let moj = server.token("moj", Role::Ministry);
    server
        .act(ID, "reserve", moj, body("2024-04-22"))
        .await
        .expect(StatusCode::FORBIDDEN);

    let done = server
        .act(ID, "reserve", mfa, body("2024-04-22"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(done["treaty"]["reservations"][0]["number"], 1);
    let list = server.get(&path, mfa).await.expect(StatusCode::OK).json();
    let item = &list["items"][0];
    assert_eq!(item["kind"], "declaration");
    assert_eq!(item["status"], "valid");
    assert_eq!(item["valid_until"], serde_json::Value::Null);
    assert_eq!(
        item["text_in_force"]["ru"],
        "Кыргызская Республика заявляет …"
    );
    let shown = server
        .get(&format!("/api/v1/procedures/{ID}"), mfa)
        .await
        .expect(StatusCode::OK)
        .json();
    let acts: Vec<String> = shown["allowed_acts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["act"].as_str().unwrap().to_string())
        .collect();
    assert!(acts.contains(&"reserve".to_string()), "{acts:?}");
    assert!(
        acts.contains(&"withdraw-reservation".to_string()),
        "{acts:?}"
    );
    assert!(
        !acts.contains(&"renew-reservation".to_string()),
        "nothing to renew without a time limit: {acts:?}"
    );

    // The chart's D as of a day: absent before it was recorded, present after.
    let flag = |chart: &serde_json::Value| chart["rows"][0]["declarations"].clone();
    let today = list["as_of"].as_str().unwrap().to_string();
    let chart = |day: String| {
        let server = &server;
        async move {
            server
                .get(
                    &format!("/api/v1/conventions/ets-112/chart?as_of={day}"),
                    mfa,
                )
                .await
                .expect(StatusCode::OK)
                .json()
        }
    };
    assert_eq!(flag(&chart("2024-05-01".into()).await), false);
    assert_eq!(flag(&chart(today.clone()).await), true);
    let csv = server
        .get(
            &format!("/api/v1/conventions/ets-112/chart?as_of={today}&format=csv"),
            mfa,
        )
        .await
        .expect(StatusCode::OK)
        .text;
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("reservations,declarations,authorities,territorial_application"),
        "{csv}"
    );
    assert!(csv.lines().nth(1).unwrap().ends_with(",,D,,"), "{csv}");

    // The list as CSV, with a column per language.
    let csv = server
        .get(&format!("{path}?format=csv"), mfa)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        csv.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    let header = csv.text.lines().next().unwrap().to_string();
    assert!(header.ends_with("text_en,text_ru"), "{header}");
    assert!(csv.text.contains("Art. 3(3)"), "{}", csv.text);

    // Withdrawn: before it was made, refused with the rule; on receipt, done.
    let refused = server
        .act(
            ID,
            "withdraw-reservation",
            mfa,
            json!({"number": 1, "received_on": "2024-04-01"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(
        refused.text.contains("withdrawal-after-it-was-made"),
        "{}",
        refused.text
    );
    let received = today.clone();
    server
        .act(
            ID,
            "withdraw-reservation",
            mfa,
            json!({"number": 1, "received_on": received}),
        )
        .await
        .expect(StatusCode::OK);
    let list = server.get(&path, mfa).await.expect(StatusCode::OK).json();
    assert_eq!(list["items"][0]["status"], "withdrawn");
    // A reservation that does not exist.
    server
        .act(
            ID,
            "renew-reservation",
            mfa,
            json!({"number": 9, "on": "2024-05-01"}),
        )
        .await
        .expect(StatusCode::CONFLICT);
    // The history carries every act, chained.
    let history = server
        .get(&format!("/api/v1/procedures/{ID}/history"), mfa)
        .await
        .expect(StatusCode::OK)
        .json();
    let commands: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert!(
        commands.ends_with(&["reserve", "withdraw_reservation"]),
        "{commands:?}"
    );
    // A day that is not one is refused naming the parameter.
    let bad_day = server
        .get(&format!("{path}?as_of=2024-13-01"), mfa)
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert_eq!(bad_day.problem("invalid-input")["field"], "as_of");
}
on_both!(reservations_are_recorded_listed_and_withdrawn_over_the_api);

async fn the_procedure_page_lists_reservations_and_records_one_with_its_form(db: &TestDb) {
    let server = Server::start(db).await;
    let page = |client: reqwest::Client, session: String| {
        let base = server.base.clone();
        async move {
            let r = client
                .get(format!("{base}/procedures/{ID}"))
                .header("Cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };
    let (moj, moj_session) = signed_in(&server, server.token("moj", Role::Ministry)).await;
    let seen = page(moj, moj_session).await;
    assert!(
        seen.contains("id=\"reservations\""),
        "the section is shown to readers"
    );
    assert!(
        !seen.contains("data-act=\"reserve\""),
        "no form for the MoJ"
    );

    let (client, session) = signed_in(&server, server.token("mfa", Role::Coordinator)).await;
    let english = client
        .get(format!("{}/lang?to=en", server.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(english.status(), StatusCode::SEE_OTHER);
    let before = page(client.clone(), session.clone()).await;
    assert!(before.contains("data-act=\"reserve\""), "{before}");
    assert!(before.contains("No reservation or declaration is recorded."));
    let csrf = before
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let version = server.etag(ID).await.trim_matches('"').to_string();
    let post = |fields: Vec<(&'static str, String)>| {
        let client = client.clone();
        let session = session.clone();
        let url = format!("{}/procedures/{ID}/act", server.base);
        async move {
            client
                .post(url)
                .header("Cookie", &session)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let form = |made_on: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("version", version.clone()),
            ("act", "reserve".to_string()),
            ("kind", "authority".to_string()),
            ("article", "Art. 5(3)".to_string()),
            ("made_at", "deposit".to_string()),
            ("made_on", made_on.to_string()),
            (
                "text_en",
                "The Ministry of Justice is designated.".to_string(),
            ),
            ("text_ru", "Назначено Министерство юстиции.".to_string()),
            ("text_ky", String::new()),
        ]
    };
    // Refused: the page again, with the rule and the form as typed.
    let refused = post(form("2024-04-21")).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let refused = refused.text().await.unwrap();
    assert!(
        refused.contains("made-at-deposit-on-the-deposit-date"),
        "{refused}"
    );
    assert!(
        refused.contains("value=\"Art. 5(3)\""),
        "typed kept: {refused}"
    );

    let done = post(form("2024-04-22")).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers()["location"].to_str().unwrap(),
        format!("/procedures/{ID}?done=reserve")
    );
    let after = page(client.clone(), session.clone()).await;
    let row = after
        .split("data-reservation=\"1\"")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row: {after}"));
    assert!(row.contains("Authority"), "{row}");
    assert!(row.contains("Art. 5(3)"), "{row}");
    assert!(row.contains("no time limit"), "{row}");
    assert!(row.contains("Назначено Министерство юстиции."), "{row}");
    assert!(
        after.contains("data-act=\"withdraw-reservation\""),
        "{after}"
    );
}
on_both!(the_procedure_page_lists_reservations_and_records_one_with_its_form);
