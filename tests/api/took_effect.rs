//! Acts recorded late over HTTP: the body states the day the act took effect, the history and
//! its exports (the procedure's CSV, the audit's CSV and JSON) carry both times and the flag, bad
//! days are refused naming the field and change nothing, and the demo's procedure page draws
//! ETS No. 112's days that are not known as spans.

use accession::engine::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Server;
use crate::on_both;
use crate::support::TestDb;
use crate::web::signed_in;

async fn an_act_recorded_late_round_trips_with_both_times_in_every_export(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry);
    server
        .act(
            "kg-cets-210",
            "comment",
            moj,
            json!({ "text": "Draft sent to the ministries", "effective_on": "2026-10-15" }),
        )
        .await
        .expect(StatusCode::OK);
    server
        .act(
            "kg-cets-210",
            "record",
            moj,
            json!({
                "field": "compatibility_report",
                "value": "MoJ review no. 12",
                "effective_on": "2026-10-20",
                "effective_approximate": true,
            }),
        )
        .await
        .expect(StatusCode::OK);

    let history = server
        .get("/api/v1/procedures/kg-cets-210/history", moj)
        .await
        .expect(StatusCode::OK)
        .json();
    let rows = history.as_array().unwrap();
    let [.., exact, approximate] = rows.as_slice() else {
        panic!("{history}")
    };
    let recorded = server.app.now();
    for row in [exact, approximate] {
        let at: chrono::DateTime<chrono::Utc> = row["at"].as_str().unwrap().parse().unwrap();
        assert_eq!(at, recorded, "{row}");
        assert_eq!(row["hash_form"], 3);
        assert_eq!(row["retrospective"], true);
    }
    assert_eq!(
        (&exact["effective_on"], &exact["effective_approximate"]),
        (&json!("2026-10-15"), &json!(false))
    );
    assert_eq!(
        (
            &approximate["effective_on"],
            &approximate["effective_approximate"]
        ),
        (&json!("2026-10-20"), &json!(true))
    );
    assert_eq!(
        rows[0]["effective_on"],
        Value::Null,
        "the start: as recorded"
    );
    assert_eq!(rows[0]["retrospective"], false);

    // The procedure's CSV.
    let csv = server
        .get("/api/v1/procedures/kg-cets-210/history?format=csv", moj)
        .await
        .expect(StatusCode::OK)
        .text;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let last: Vec<String> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .last()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(last[column("effective_on")], "2026-10-20");
    assert_eq!(last[column("effective_approximate")], "true");
    assert_eq!(last[column("retrospective")], "true");
    assert_eq!(last[column("hash_form")], "3");
    assert!(
        last[column("at")].starts_with("2026-11-02T06:00:00"),
        "{last:?}"
    );

    // The audit's exports, as an auditor.
    let (client, session) = signed_in(&server, server.token("mfa", Role::Auditor)).await;
    let export = |file: &'static str| {
        let client = client.clone();
        let session = session.clone();
        let url = format!("{}/audit/{file}?convention=cets-210", server.base);
        async move {
            let r = client
                .get(url)
                .header("Cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };
    let json: Value = serde_json::from_str(&export("history.json").await).unwrap();
    let last = json.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["effective_on"], "2026-10-20");
    assert_eq!(last["effective_approximate"], true);
    assert_eq!(last["retrospective"], true);
    let csv = export("history.csv").await;
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with(
            "procedure_id,sequence,at,effective_on,effective_approximate,retrospective,"
        ) && header.ends_with(",hash,hash_form,actor_account"),
        "{header}"
    );
    assert!(
        csv.lines()
            .any(|l| l.contains(",2026-10-15,false,true,moj,")),
        "{csv}"
    );
    // The audit page says so in its table.
    let page = client
        .get(format!("{}/audit?convention=cets-210", server.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<td class=\"retrospective\">on or before 2026-10-20 (day not known) · recorded later</td>"),
        "{page}"
    );
    assert!(page.contains("<td class=\"retrospective\">2026-10-15 · recorded later</td>"));
}
on_both!(an_act_recorded_late_round_trips_with_both_times_in_every_export);

async fn a_day_that_does_not_fit_is_refused_naming_the_field_and_changes_nothing(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = server.token("moj", Role::Ministry);
    let before = server.history_len("kg-cets-210").await;
    let etag = server.etag("kg-cets-210").await;
    for (body, field, says) in [
        (
            json!({ "text": "x", "effective_on": "2026-11-03" }),
            "effective_on",
            "after today",
        ),
        (
            // The procedure's previous row: the move to legal review on 2023-06-01.
            json!({ "text": "x", "effective_on": "2023-05-31" }),
            "effective_on",
            "before 2023-06-01",
        ),
        (
            json!({ "text": "x", "effective_on": "2026-4-2" }),
            "effective_on",
            "YYYY-MM-DD",
        ),
    ] {
        let reply = server
            .act("kg-cets-210", "comment", moj, body.clone())
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        let problem = reply.problem("invalid-input");
        assert_eq!(problem["field"], field, "{body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{body}: {problem}"
        );
    }
    assert_eq!(server.history_len("kg-cets-210").await, before);
    assert_eq!(server.etag("kg-cets-210").await, etag);
    // Approximate without a day: not known, and at the latest the day it is recorded.
    let row = server
        .act(
            "kg-cets-210",
            "comment",
            moj,
            json!({ "text": "x", "effective_approximate": true }),
        )
        .await
        .expect(StatusCode::OK);
    drop(row);
    let history = server
        .get("/api/v1/procedures/kg-cets-210/history", moj)
        .await
        .expect(StatusCode::OK)
        .json();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["effective_approximate"], true, "{last}");
    assert_eq!(last["retrospective"], true, "{last}");
    assert!(last["effective_on"].is_string(), "{last}");
}
on_both!(a_day_that_does_not_fit_is_refused_naming_the_field_and_changes_nothing);

/// The procedure page of ETS No. 112: its steps whose days are not known are spans in the
/// timeline (none is drawn as a stage of one day) and marked in the history.
async fn the_demo_page_draws_ets_112s_days_not_known_as_spans(db: &TestDb) {
    let server = Server::start(db).await;
    let (client, session) = signed_in(&server, server.token("mfa", Role::Coordinator)).await;
    let page = client
        .get(format!("{}/procedures/kg-ets-112", server.base))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("<svg").unwrap();
    let end = page[start..].find("</svg>").unwrap() + start + "</svg>".len();
    let svg = roxmltree::Document::parse(&page[start..end]).unwrap();
    let class = |n: &roxmltree::Node, c: &str| {
        n.attribute("class")
            .is_some_and(|v| v.split_whitespace().any(|x| x == c))
    };
    let rows: Vec<(String, bool, bool)> = svg
        .descendants()
        .filter(|n| class(n, "row"))
        .map(|row| {
            let label = row
                .descendants()
                .filter(|n| n.tag_name().name() == "tspan")
                .filter_map(|n| n.text())
                .collect::<Vec<_>>()
                .join(" ");
            let span = row.children().any(|n| class(&n, "uncertain"));
            let bar = row.children().any(|n| class(&n, "actual"));
            (label, span, bar)
        })
        .collect();
    let unknown = [
        "Consultation between institutions",
        "Request to accede",
        "Consultation of the Parties",
        "Invitation by the Committee of Ministers",
    ];
    for title in unknown {
        let row = rows
            .iter()
            .find(|(label, ..)| label == title)
            .unwrap_or_else(|| panic!("{title}: {rows:?}"));
        assert_eq!((row.1, row.2), (true, false), "{title}: a span, not a bar");
    }
    let known = rows
        .iter()
        .find(|(label, ..)| label.starts_with("Party"))
        .unwrap();
    assert_eq!((known.1, known.2), (false, true), "{rows:?}");
    assert!(page.contains("on or before 2023-12-20 (day not known) · recorded later"));
}
on_both!(the_demo_page_draws_ets_112s_days_not_known_as_spans);
