//! The dashboard says what is urgent (issue 15): the most overdue first, then the soonest due;
//! "overdue by N days" in the reader's language and plural form; counts at the top from the
//! database; what the reader's institution must act on. Checked against the rows themselves,
//! read back from the database.

use accession::engine::Role;
use chrono::{Days, NaiveDate};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};

use crate::harness::Server;
use crate::on_both;
use crate::support::{TestDb, count, import_copies};
use crate::web::signed_in;

/// A statement on either backend: a procedure's due day or status put where a test needs it.
async fn execute(server: &Server, sql: &str) {
    let conn = server.app.store_for_tests().connection();
    conn.execute_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .expect("statement");
}

/// Every procedure as (id, status, due day), from the database.
async fn procedures(server: &Server) -> Vec<(String, String, Option<NaiveDate>)> {
    let conn = server.app.store_for_tests().connection();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id, status, CAST(due_on AS TEXT) AS due FROM procedures".to_string(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let due: Option<String> = r.try_get("", "due").unwrap();
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "status").unwrap(),
                due.map(|d| d.parse().unwrap()),
            )
        })
        .collect()
}

/// The order the dashboard promises, computed here from the rows: active ones with a due day
/// by that day (the most overdue first), then all the others; ties by id.
fn urgency_order(mut rows: Vec<(String, String, Option<NaiveDate>)>) -> Vec<String> {
    rows.sort_by_key(|(id, status, due)| {
        let key = match (status.as_str(), due) {
            ("active", Some(d)) => (0, *d),
            _ => (1, NaiveDate::MIN),
        };
        (key, id.clone())
    });
    rows.into_iter().map(|(id, _, _)| id).collect()
}

/// The procedure ids of a page, in the order shown.
fn ids_of(page: &str) -> Vec<String> {
    page.split("<tr data-procedure=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

/// The row of procedure `id` on `page`.
fn row_of<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<tr data-procedure=\"{id}\""))
        .unwrap_or_else(|| panic!("{id} is on the page"));
    let rest = &page[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

/// The number in the count tile `id`.
fn tile(page: &str, id: &str) -> u64 {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no tile {id}"));
    let rest = &page[start..];
    let n = &rest[rest.find("<span class=\"n\">").unwrap() + "<span class=\"n\">".len()..];
    n[..n.find('<').unwrap()].parse().unwrap()
}

fn link(page: &str, marker: &str) -> Option<String> {
    page.split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|h| {
            h.replace("&#x2f;", "/")
                .replace("&amp;", "&")
                .replace("&#x3d;", "=")
        })
}

struct Reader {
    client: reqwest::Client,
    session: String,
    base: String,
}

impl Reader {
    async fn new(server: &Server, institution: &str, role: Role) -> Reader {
        let (client, session) = signed_in(server, server.token(institution, role)).await;
        Reader {
            client,
            session,
            base: server.base.clone(),
        }
    }

    async fn language(&self, to: &str) {
        let r = self
            .client
            .get(format!("{}/lang?to={to}", self.base))
            .header("Cookie", &self.session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    async fn get(&self, path: &str) -> String {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.text().await.unwrap()
    }
}

/// Procedures `m-00` … `m-{n-1}` of Kyrgyzstan, each on its own copy of ETS 112.
async fn start_procedures(server: &Server, db: &TestDb, n: usize) {
    import_copies(&server.app, db.dir.path(), "ets-112", n).await;
    for i in 0..n {
        server
            .send(
                reqwest::Method::POST,
                "/api/v1/procedures",
                Some(server.token("mfa", Role::Coordinator)),
                &[],
                Some(serde_json::json!({"id": format!("m-{i:02}"), "state": "KG", "convention": format!("ets-112-{i}")})),
            )
            .await
            .expect(StatusCode::CREATED);
    }
}

async fn the_dashboard_puts_the_most_overdue_first_and_says_by_how_many_days(db: &TestDb) {
    let server = Server::start(db).await;
    start_procedures(&server, db, 8).await;
    let today = server.app.today();
    let day = |offset: i64| {
        if offset < 0 {
            today - Days::new(offset.unsigned_abs())
        } else {
            today + Days::new(offset as u64)
        }
    };
    // Due days chosen for each plural form and each side of today; one without a due day, one
    // completed although its day has passed (not overdue: it is done).
    for (id, offset) in [
        ("m-00", Some(-30)),
        ("m-01", Some(-1)),
        ("m-02", Some(0)),
        ("m-03", Some(3)),
        ("m-04", Some(20)),
        ("m-05", None),
        ("m-06", Some(-400)),
        ("m-07", Some(-22)),
    ] {
        let due = offset.map_or("NULL".to_string(), |o| format!("'{}'", day(o)));
        execute(
            &server,
            &format!("UPDATE procedures SET due_on = {due} WHERE id = '{id}'"),
        )
        .await;
    }
    execute(
        &server,
        "UPDATE procedures SET status = 'completed' WHERE id = 'm-06'",
    )
    .await;

    let mfa = Reader::new(&server, "mfa", Role::Coordinator).await;
    mfa.language("en").await;
    let page = mfa.get("/").await;
    let shown = ids_of(&page);
    let expected = urgency_order(procedures(&server).await);
    assert_eq!(shown, expected, "most overdue first, then the soonest due");
    let position = |id: &str| shown.iter().position(|s| s == id).unwrap();
    assert!(
        position("m-06") > position("m-04"),
        "a completed one is not urgent"
    );
    assert!(position("m-00") < position("m-07") && position("m-07") < position("m-01"));
    assert!(position("m-01") < position("m-02") && position("m-02") < position("m-03"));

    assert!(row_of(&page, "m-00").contains("overdue by 30 days"));
    assert!(row_of(&page, "m-00").contains("data-overdue-days=\"30\""));
    assert!(row_of(&page, "m-01").contains("overdue by 1 day<"));
    assert!(row_of(&page, "m-07").contains("overdue by 22 days"));
    assert!(row_of(&page, "m-02").contains("due today"));
    assert!(row_of(&page, "m-03").contains("3 days left"));
    for id in ["m-02", "m-03", "m-04", "m-05", "m-06"] {
        assert!(
            !row_of(&page, id).contains("overdue"),
            "{id} is not overdue"
        );
    }

    // The counts at the top: what the database counts, over everything the reader sees.
    let today_sql = format!("'{today}'");
    let soon_sql = format!("'{}'", day(7));
    let overdue = count(
        &server.app,
        &format!(
            "SELECT COUNT(*) FROM procedures WHERE status = 'active' AND due_on < {today_sql}"
        ),
    )
    .await as u64;
    let soon = count(
        &server.app,
        &format!(
            "SELECT COUNT(*) FROM procedures WHERE status = 'active' AND due_on >= {today_sql} \
             AND due_on < {soon_sql}"
        ),
    )
    .await as u64;
    let active = count(
        &server.app,
        "SELECT COUNT(*) FROM procedures WHERE status = 'active'",
    )
    .await as u64;
    let total = count(&server.app, "SELECT COUNT(*) FROM procedures").await as u64;
    assert!(
        overdue >= 3 && soon >= 2,
        "the rows above count: {overdue}, {soon}"
    );
    assert_eq!(tile(&page, "count-overdue"), overdue);
    assert_eq!(tile(&page, "count-due-soon"), soon);
    assert_eq!(tile(&page, "count-on-time"), active - overdue - soon);
    assert_eq!(tile(&page, "count-total"), total);

    // In Russian, each number takes its form; in Kyrgyz the noun stays singular. Neither page
    // uses an English word of the catalogue.
    let vocabulary = accession::locale::catalogue_vocabulary();
    mfa.language("ru").await;
    let ru = mfa.get("/").await;
    assert_eq!(ids_of(&ru), expected);
    assert!(row_of(&ru, "m-00").contains("просрочено на 30 дней"));
    assert!(row_of(&ru, "m-01").contains("просрочено на 1 день<"));
    assert!(row_of(&ru, "m-07").contains("просрочено на 22 дня"));
    assert!(row_of(&ru, "m-03").contains("осталось 3 дня"));
    assert!(ru.contains("Просрочено"));
    mfa.language("ky").await;
    let ky = mfa.get("/").await;
    assert!(row_of(&ky, "m-00").contains("мөөнөтү 30 күн өттү"));
    assert!(row_of(&ky, "m-01").contains("мөөнөтү 1 күн өттү"));
    for (language, page) in [("ru", &ru), ("ky", &ky)] {
        let english = accession::locale::english_words_in(
            &accession::locale::visible_text(page),
            &vocabulary,
        );
        assert!(english.is_empty(), "{language}: English {english:?}");
    }

    // "Overdue only" keeps the overdue ones, in the same order.
    let rows = procedures(&server).await;
    let overdue_ids: Vec<_> = expected
        .iter()
        .filter(|id| {
            rows.iter()
                .any(|(i, s, d)| i == *id && s == "active" && d.is_some_and(|d| d < today))
        })
        .cloned()
        .collect();
    assert_eq!(ids_of(&mfa.get("/?overdue=true").await), overdue_ids);
    assert_eq!(overdue_ids.len() as u64, overdue);
}
on_both!(the_dashboard_puts_the_most_overdue_first_and_says_by_how_many_days);

/// Paging keeps the urgency order across pages, forward and back, and never repeats a row.
async fn the_urgency_order_pages_forward_and_back(db: &TestDb) {
    let server = Server::start(db).await;
    start_procedures(&server, db, 60).await;
    let today = server.app.today();
    // Many share a due day (ties by id), a few are overdue, some have none.
    for i in 0..60 {
        let due = match i % 4 {
            0 => "NULL".to_string(),
            1 => format!("'{}'", today - Days::new(i % 7 + 1)),
            _ => format!("'{}'", today + Days::new(i % 5)),
        };
        execute(
            &server,
            &format!("UPDATE procedures SET due_on = {due} WHERE id = 'm-{i:02}'"),
        )
        .await;
    }
    let expected = urgency_order(procedures(&server).await);
    assert_eq!(expected.len(), 66);
    let mfa = Reader::new(&server, "mfa", Role::Coordinator).await;
    let first = mfa.get("/").await;
    assert_eq!(ids_of(&first), expected[..50]);
    let next = link(&first, "rel=\"next\" href=\"").expect("a next page");
    let second = mfa.get(&next).await;
    assert_eq!(ids_of(&second), expected[50..]);
    assert!(!second.contains("rel=\"next\""));
    let previous = link(&second, "rel=\"prev\" href=\"").expect("a previous page");
    assert_eq!(ids_of(&mfa.get(&previous).await), expected[..50]);
    // A cursor not handed out is refused, saying so.
    let r = mfa
        .client
        .get(format!("{}/?cursor=zz", server.base))
        .header("Cookie", &mfa.session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("cursor"));
}
on_both!(the_urgency_order_pages_forward_and_back);

/// "Mine": the dashboard counts what the reader's institution must act on and shows only that
/// when asked, still most urgent first.
async fn mine_is_what_the_readers_institution_must_act_on(db: &TestDb) {
    let server = Server::start(db).await;
    let moj = Reader::new(&server, "moj", Role::Ministry).await;
    moj.language("en").await;
    let all = moj.get("/").await;
    let responsible = count(
        &server.app,
        "SELECT COUNT(*) FROM procedure_responsibles WHERE institution_id = 'moj'",
    )
    .await as u64;
    let overdue = count(
        &server.app,
        &format!(
            "SELECT COUNT(*) FROM procedures p JOIN procedure_responsibles r \
             ON r.procedure_id = p.id AND r.institution_id = 'moj' \
             WHERE p.status = 'active' AND p.due_on < '{}'",
            server.app.today()
        ),
    )
    .await;
    assert!(
        responsible > 0 && overdue > 0,
        "the demo gives the ministry work"
    );
    assert!(
        all.contains(&format!(
            "Your institution must act: {responsible}</strong>, of them overdue <span class=\"overdue\">{overdue}</span>"
        )),
        "{all}"
    );
    let mine_href = {
        let at = all.find("Show only these").unwrap();
        let before = &all[..at];
        let start = before.rfind("href=\"").unwrap() + "href=\"".len();
        before[start..]
            .split('"')
            .next()
            .unwrap()
            .replace("&#x2f;", "/")
            .replace("&amp;", "&")
    };
    let mine = moj.get(&mine_href).await;
    let ids = ids_of(&mine);
    assert_eq!(ids.len() as u64, responsible);
    for id in &ids {
        assert!(row_of(&mine, id).contains("data-mine=\"true\""), "{id}");
    }
    let expected: Vec<_> = urgency_order(procedures(&server).await)
        .into_iter()
        .filter(|id| ids.contains(id))
        .collect();
    assert_eq!(ids, expected, "still most urgent first");
    assert!(mine.contains("Show all"));
    // On the whole dashboard, the rows of others carry no mark.
    let others: Vec<_> = ids_of(&all)
        .into_iter()
        .filter(|id| !ids.contains(id))
        .collect();
    for id in &others {
        assert!(!row_of(&all, id).contains("data-mine"), "{id}");
    }
}
on_both!(mine_is_what_the_readers_institution_must_act_on);
