//! A running server, its database, and a token per institution and role.

use std::collections::HashMap;
use std::sync::Arc;

use accession::app::Accession;
use accession::clock::ManualClock;
use accession::config::Settings;
use accession::engine::Role;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::TestDb;

pub struct Server {
    pub base: String,
    pub client: Client,
    pub app: Arc<Accession>,
    /// The server's clock: a test moves it (past a Retry-After, say).
    pub clock: ManualClock,
    tokens: HashMap<(String, Role), String>,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<std::io::Result<()>>>,
}

/// (institution, role) pairs that get a token.
const TOKENS: &[(&str, Role)] = &[
    ("mfa", Role::Coordinator),
    ("mfa", Role::Auditor),
    ("mfa", Role::Admin),
    ("moj", Role::Ministry),
    ("mia", Role::Ministry),
    ("prosecutor-general", Role::Ministry),
    ("supreme-court", Role::Ministry),
    ("embassy-france", Role::Ministry),
    ("jogorku-kenesh", Role::Ministry),
    ("presidential-administration", Role::Ministry),
    ("bar-training-centre", Role::Ministry),
];

impl Server {
    /// The server on `db` with the Kyrgyz demo loaded.
    pub async fn start(db: &TestDb) -> Server {
        Server::start_with(db, |_| {}).await
    }

    /// The server on `db` with its settings changed by `change` first.
    pub async fn start_with(db: &TestDb, change: impl FnOnce(&mut Settings)) -> Server {
        let clock = crate::support::clock();
        let mut settings = db.settings();
        change(&mut settings);
        let mut app = db.app_with(settings, &clock).await;
        app.demo().await.expect("the demo loads");
        let mut tokens = HashMap::new();
        for (institution, role) in TOKENS {
            let new = app
                .create_token(
                    &accession::engine::Actor::operator("cli:test"),
                    &institution.parse().unwrap(),
                    *role,
                    &format!("{institution} {role}"),
                )
                .await
                .expect("a token");
            tokens.insert((institution.to_string(), *role), new.token.clone());
        }
        Server::spawn(app, clock, tokens).await
    }

    /// The server stopped and started afresh on the same database, clock and tokens, as after
    /// a crash: nothing it held in memory survives, only what the database keeps.
    pub async fn restart(mut self, db: &TestDb) -> Server {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let app = db.app(&self.clock).await;
        Server::spawn(app, self.clock.clone(), std::mem::take(&mut self.tokens)).await
    }

    async fn spawn(
        app: Accession,
        clock: ManualClock,
        tokens: HashMap<(String, Role), String>,
    ) -> Server {
        let app = Arc::new(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(accession::server::serve(
            Arc::clone(&app),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            base,
            client: Client::new(),
            app,
            clock,
            tokens,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A client whose connections come from `ip` (any address of 127.0.0.0/8 is this machine's
    /// loopback), so a test can be two clients.
    pub fn client_from(&self, ip: &str) -> Client {
        Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().expect("an address"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
    }

    /// Sign in to the pages with `token` through the form, as a browser does: fetch the form
    /// (its CSRF cookie), post it back. `prefix` is the cookie names' prefix the server uses
    /// (`__Host-` over HTTPS, else empty). The answer, whatever it is.
    pub async fn sign_in(&self, client: &Client, token: &str, prefix: &str) -> SignIn {
        let page = client
            .get(format!("{}/sign-in", self.base))
            .send()
            .await
            .unwrap();
        let csrf = format!("{prefix}accession_csrf=");
        let secret = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.split(';').next()?.strip_prefix(csrf.as_str()))
            .unwrap_or_else(|| panic!("a {csrf} cookie: {:?}", page.headers()))
            .to_string();
        let answer = client
            .post(format!("{}/sign-in", self.base))
            .header("Cookie", format!("{csrf}{secret}"))
            .form(&[("csrf", secret.as_str()), ("token", token)])
            .send()
            .await
            .unwrap();
        let name = format!("{prefix}accession_session=");
        let session = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&name))
            .and_then(|c| c.split(';').next())
            .map(str::to_string);
        let status = answer.status();
        SignIn {
            status,
            page: answer.text().await.unwrap(),
            session,
        }
    }

    /// Signed in with `token` (refused unless the sign-in succeeds): the session's `Cookie` pair.
    pub async fn session(&self, client: &Client, token: &str, prefix: &str) -> String {
        let answer = self.sign_in(client, token, prefix).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.page);
        answer
            .session
            .unwrap_or_else(|| panic!("a {prefix}accession_session cookie"))
    }

    /// Signed in with `token`: the session's `Cookie` pair and the CSRF secret its forms carry,
    /// read from the dashboard's sign-out form as a browser would.
    pub async fn session_and_csrf(&self, client: &Client, token: &str) -> (String, String) {
        let session = self.session(client, token, "").await;
        let home = client
            .get(format!("{}/", self.base))
            .header("Cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = home
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the sign-out form carries the session's CSRF secret")
            .to_string();
        (session, csrf)
    }

    pub fn token(&self, institution: &str, role: Role) -> &str {
        self.tokens
            .get(&(institution.to_string(), role))
            .unwrap_or_else(|| panic!("no token for {institution} as {role}"))
    }

    /// A new calendar feed key for `token`'s institution, made through the API as a user would
    /// (`POST /api/v1/feed-key`): the `key` of the feed's address.
    pub async fn feed_key(&self, token: &str) -> String {
        let reply = self
            .send(Method::POST, "/api/v1/feed-key", Some(token), &[], None)
            .await
            .expect(StatusCode::CREATED);
        let url = reply.json()["url"].as_str().expect("a url").to_string();
        url.split_once("key=")
            .map(|(_, key)| key.to_string())
            .unwrap_or_else(|| panic!("no key in the feed address {url}"))
    }

    /// Ask the server to stop (it finishes the requests in flight).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::read(request.send().await.expect("the server answers")).await
    }

    /// Send `body` as it is, under the headers given (a content type of its own, say).
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Reply::read(request.body(body).send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), &[], None).await
    }

    /// POST an act with `If-Match` set to the procedure's current ETag (read first).
    pub async fn act(&self, id: &str, verb: &str, token: &str, body: Value) -> Reply {
        let etag = self.etag(id).await;
        self.send(
            Method::POST,
            &format!("/api/v1/procedures/{id}/{verb}"),
            Some(token),
            &[("If-Match", &etag)],
            Some(body),
        )
        .await
    }

    /// The procedure's ETag as the coordinator reads it.
    pub async fn etag(&self, id: &str) -> String {
        let reply = self
            .get(
                &format!("/api/v1/procedures/{id}"),
                self.token("mfa", Role::Coordinator),
            )
            .await
            .expect(StatusCode::OK);
        reply.header("etag").expect("an ETag")
    }

    /// How many history rows a procedure has (to show that a refusal wrote nothing).
    pub async fn history_len(&self, id: &str) -> usize {
        self.app
            .store_for_tests()
            .history(&id.parse().unwrap())
            .await
            .unwrap()
            .len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A response, read whole.
#[derive(Debug)]
/// What signing in to the pages answered.
pub struct SignIn {
    pub status: StatusCode,
    /// The answer's body: the page saying why, when refused.
    pub page: String,
    /// The session's `Cookie` pair, when one was set.
    pub session: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    async fn read(response: Response) -> Reply {
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap_or_default(),
        }
    }

    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Reply {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The problem's `type` ends with `kind`, it is `application/problem+json`, and it carries
    /// the request id of the response header.
    #[track_caller]
    pub fn problem(&self, kind: &str) -> Value {
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let p = self.json();
        assert_eq!(p["type"], format!("urn:accession:problem:{kind}"), "{p}");
        assert_eq!(p["status"], self.status.as_u16(), "{p}");
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
        assert_eq!(
            p["request_id"].as_str(),
            self.header("x-request-id").as_deref(),
            "{p}"
        );
        p
    }
}
