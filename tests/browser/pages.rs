//! People at work: a ministry records and moves on, is refused where it does not own the stage,
//! another institution approves, an auditor reads, verifies and downloads, and the language
//! switches.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use accession::engine::Role;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::harness::Server;

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for by `Driver`'s Drop, which the lint does not follow.
#[allow(clippy::zombie_processes)]
fn driver() -> Option<Driver> {
    let Ok(path) = which("chromedriver") else {
        if std::env::var_os("CI").is_some() {
            panic!("chromedriver must be installed in CI (.ci/run installs chromium-driver)");
        }
        eprintln!("skipping the browser tests: chromedriver is not installed");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // Wait (bounded) until it accepts connections.
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Driver {
                child,
                url: format!("http://127.0.0.1:{port}"),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not start listening");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

async fn browser(driver: &Driver) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"],
            "binary": which("chromium").map(|p| p.display().to_string()).unwrap_or_default(),
        }),
    );
    ClientBuilder::rustls()
        .expect("a TLS provider")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

async fn sign_in(c: &Client, server: &Server, institution: &str, role: Role) {
    c.goto(&format!("{}/sign-in", server.base)).await.unwrap();
    // People sign in by an emailed link; a token is behind "sign in with an API token instead".
    c.find(Locator::Css("details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(server.token(institution, role))
        .await
        .unwrap();
    c.find(Locator::Css("form[action='/sign-in'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#matrix"))
        .await
        .expect("the dashboard after sign-in");
}

async fn sign_out(c: &Client) {
    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#token")).await.unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn screenshot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(
        png.starts_with(&[0x89, b'P', b'N', b'G']),
        "a PNG screenshot"
    );
    std::fs::write(dir.join(name), png).unwrap();
}

/// Submit the form of `act` and wait for the page that answers it.
async fn submit(c: &Client, act: &str) {
    let form = c
        .find(Locator::Css(&format!("form[data-act={act}]")))
        .await
        .unwrap_or_else(|_| panic!("no {act} form"));
    mark_page(c).await;
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    answered(c, act).await;
}

/// Mark the page shown now, so the next one can be told from it.
async fn mark_page(c: &Client) {
    c.execute("window.accessionOldPage = true;", vec![])
        .await
        .unwrap();
}

/// Wait (at most ten seconds) until a new page, with its result in `#flash`, has replaced the
/// marked one: the browser loads the answer on its own time.
async fn answered(c: &Client, act: &str) {
    for _ in 0..200 {
        let loaded = c
            .execute(
                "return window.accessionOldPage === undefined && document.readyState === 'complete' \
                 && document.querySelector('#flash') !== null;",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if loaded {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no answer to {act} appeared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_work_on_procedures_in_a_browser() {
    let Some(driver) = driver() else { return };
    let db = crate::support::sqlite();
    let server = Server::start(&db).await;
    let c = browser(&driver).await;
    let procedure = format!("{}/procedures/kg-cets-210", server.base);

    // Without a session every page leads to the sign-in form.
    c.goto(&procedure).await.unwrap();
    c.wait().for_element(Locator::Css("#token")).await.unwrap();

    // The Ministry of Justice: its dashboard, then it records its report and moves the
    // procedure on. Its pages are in Russian (its language); it switches to English.
    sign_in(&c, &server, "moj", Role::Ministry).await;
    assert!(text(&c, "header nav").await.contains("Процедуры"));
    let rows = c
        .find_all(Locator::Css("#matrix tbody tr[data-procedure]"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 6);
    let overdue = c.find_all(Locator::Css("#matrix .overdue")).await.unwrap();
    assert_eq!(
        overdue.len(),
        5,
        "the five procedures in legal review are overdue"
    );
    c.find(Locator::Css("a[lang=en]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#matrix")).await.unwrap();
    assert!(text(&c, "header nav").await.contains("Procedures"));
    assert!(text(&c, "h1").await.contains("treaty procedures"));
    screenshot(&c, "dashboard.png").await;

    c.goto(&procedure).await.unwrap();
    let record = c.find(Locator::Css("form[data-act=record]")).await.unwrap();
    record
        .find(Locator::Css(
            "select[name=field] option[value=compatibility_report]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    record
        .find(Locator::Css("input[name=value]"))
        .await
        .unwrap()
        .send_keys("MoJ/2026/17")
        .await
        .unwrap();
    submit(&c, "record").await;
    assert!(
        text(&c, "#flash")
            .await
            .contains("Done: Recording of a value")
    );
    submit(&c, "advance").await;
    assert_eq!(
        text(&c, "#current-stage").await,
        "Consultation between institutions"
    );
    screenshot(&c, "procedure.png").await;
    sign_out(&c).await;

    // The Ministry of Internal Affairs may not move the Ministry of Justice's stage: a form
    // altered to try (as an old page or a crafted request would) is refused, in plain words.
    sign_in(&c, &server, "mia", Role::Ministry).await;
    c.goto(&procedure).await.unwrap();
    mark_page(&c).await;
    c.execute(
        "const f = document.querySelector('form[data-act=comment]');
         f.querySelector('input[name=act]').value = 'advance';
         const to = document.createElement('input');
         to.type = 'hidden'; to.name = 'to'; to.value = 'request';
         f.appendChild(to);
         f.querySelector('textarea').removeAttribute('required');
         f.submit();",
        vec![],
    )
    .await
    .unwrap();
    answered(&c, "advance").await;
    let refusal = text(&c, "#flash").await;
    // In the reader's language (mia's is Russian), naming who may do it instead.
    assert!(
        refusal.contains("не может выполнить это действие"),
        "{refusal}"
    );
    assert!(refusal.contains("Министерство юстиции"), "{refusal}");
    // The page is in Russian (mia's language), the stage title too (the workflow gives one).
    assert!(text(&c, "#h-acts").await.contains("Что вы можете сделать"));
    assert_eq!(
        text(&c, "#current-stage").await,
        "Межведомственное согласование"
    );
    // It approves, as one of the approvers of this stage.
    submit(&c, "approve").await;
    assert!(
        c.find(Locator::Css("form[data-act=approve]"))
            .await
            .is_err(),
        "approved once"
    );
    sign_out(&c).await;

    // The auditor: no forms anywhere, the chain verified, the CSV downloaded.
    sign_in(&c, &server, "mfa", Role::Auditor).await;
    c.goto(&procedure).await.unwrap();
    assert!(
        c.find_all(Locator::Css("form.act"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        c.find_all(Locator::Css("#history tbody tr"))
            .await
            .unwrap()
            .len(),
        server.history_len("kg-cets-210").await
    );
    c.goto(&format!("{}/audit", server.base)).await.unwrap();
    assert!(text(&c, "#chain").await.contains("✓"));
    let href = c
        .find(Locator::Css("#export-csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let session = c.get_named_cookie("accession_session").await.unwrap();
    let csv = server
        .client
        .get(format!("{}{href}", server.base))
        .header("Cookie", format!("accession_session={}", session.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let body = csv.text().await.unwrap();
    assert!(
        body.starts_with(
            "procedure_id,sequence,at,effective_on,effective_approximate,retrospective,actor_institution"
        ),
        "{body}"
    );
    assert!(body.contains("MoJ/2026/17"));
    c.close().await.unwrap();
    drop(server);
    db.finish().await;
}
