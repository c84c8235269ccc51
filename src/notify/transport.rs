//! Where built messages go: an SMTP server, or `.eml` files in a folder. Sending tells the
//! caller whether a failure is worth retrying; it decides nothing else.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::time::Instant;

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use crate::config::{MailSettings, MailTransport, SmtpSecurity, SmtpSettings};

/// The environment variable holding the SMTP password.
pub const PASSWORD_VAR: &str = "ACCESSION_SMTP_PASSWORD";
/// The environment variable naming a file that holds the SMTP password (a mounted secret).
pub const PASSWORD_FILE_VAR: &str = "ACCESSION_SMTP_PASSWORD_FILE";

/// Something that delivers messages.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, message: &Message) -> Result<(), SendError>;
    /// Where messages go, for logs (never a secret).
    fn describe(&self) -> String;
}

/// A message that was not delivered, and whose fault that is. A `permanent` failure (a 55x
/// reply: no such mailbox, address not allowed) concerns this message and will fail again. A
/// `server` failure (nothing listening, a timeout, a broken connection, a refused greeting or
/// login, 421) concerns the server: every other message would fail alike, and it says nothing
/// about this one. The rest (a 45x reply to this message, such as a busy mailbox) concern this
/// message for now and may succeed later. Never both `permanent` and `server`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", if *.permanent {
    "permanent failure"
} else if *.server {
    "server unavailable"
} else {
    "transient failure"
})]
pub struct SendError {
    pub permanent: bool,
    pub server: bool,
    pub reason: String,
}

impl SendError {
    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError {
            permanent: true,
            server: false,
            reason: reason.into(),
        }
    }

    /// This message failed for now; others may go through.
    pub fn transient(reason: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            server: false,
            reason: reason.into(),
        }
    }

    /// The server (or the folder) cannot take any message now.
    pub fn unavailable(reason: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            server: true,
            reason: reason.into(),
        }
    }
}

/// A mailer that cannot be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "mail.smtp.username is `{0}` but there is no password: set {PASSWORD_VAR} or \
         {PASSWORD_FILE_VAR} (the name of a file holding it)"
    )]
    MissingPassword(String),
    #[error("both {PASSWORD_VAR} and {PASSWORD_FILE_VAR} are set: keep only one")]
    TwoPasswords,
    #[error("{PASSWORD_VAR} is not valid UTF-8")]
    PasswordNotUtf8,
    #[error("the SMTP password file {path} (from {PASSWORD_FILE_VAR}) cannot be read: {source}")]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the SMTP password file {0} (from {PASSWORD_FILE_VAR}) is empty")]
    EmptyPasswordFile(PathBuf),
    #[error("TLS to the SMTP server `{host}` cannot be set up: {source}")]
    Tls {
        host: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("mail.smtp.{0} must be at least 1")]
    Zero(&'static str),
}

/// The SMTP password. It is never printed: `Debug` shows `***` and there is no `Display`.
#[derive(Clone)]
pub struct SmtpPassword(String);

impl fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpPassword(***)")
    }
}

impl SmtpPassword {
    pub fn new(password: impl Into<String>) -> SmtpPassword {
        SmtpPassword(password.into())
    }

    /// The password from `ACCESSION_SMTP_PASSWORD`, or from the file named by
    /// `ACCESSION_SMTP_PASSWORD_FILE`; `None` when neither is set.
    pub fn from_env() -> Result<Option<SmtpPassword>, TransportError> {
        let value = match std::env::var(PASSWORD_VAR) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => return Err(TransportError::PasswordNotUtf8),
        };
        let file = std::env::var_os(PASSWORD_FILE_VAR).map(PathBuf::from);
        SmtpPassword::from_sources(value, file.as_deref())
    }

    fn from_sources(
        value: Option<String>,
        file: Option<&Path>,
    ) -> Result<Option<SmtpPassword>, TransportError> {
        match (value, file) {
            (Some(_), Some(_)) => Err(TransportError::TwoPasswords),
            (Some(value), None) => Ok(Some(SmtpPassword(value))),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|source| {
                    TransportError::PasswordFile {
                        path: path.to_path_buf(),
                        source,
                    }
                })?;
                // Secret files usually end with a newline that is not part of the password.
                let password = text.strip_suffix('\n').unwrap_or(&text);
                let password = password.strip_suffix('\r').unwrap_or(password);
                if password.is_empty() {
                    return Err(TransportError::EmptyPasswordFile(path.to_path_buf()));
                }
                Ok(Some(SmtpPassword(password.to_string())))
            }
            (None, None) => Ok(None),
        }
    }
}

/// The mailer the settings ask for.
pub fn mailer_from_settings(settings: &MailSettings) -> Result<Box<dyn Mailer>, TransportError> {
    match settings.transport {
        MailTransport::File => Ok(Box::new(FileMailer::new(&settings.outbox_dir))),
        MailTransport::Smtp => {
            let password = SmtpPassword::from_env()?;
            match (&settings.smtp.username, &password) {
                (Some(username), None) => {
                    return Err(TransportError::MissingPassword(username.clone()));
                }
                (None, Some(_)) => tracing::warn!(
                    "an SMTP password is set but mail.smtp.username is not: sending without \
                     authentication"
                ),
                _ => {}
            }
            Ok(Box::new(SmtpMailer::new(&settings.smtp, password)?))
        }
    }
}

/// Sends through an SMTP server over a pool of connections.
///
/// The pool is ours, the protocol lettre's (`AsyncSmtpConnection`): lettre 0.11.23 opens its
/// pooled sockets with Nagle's algorithm on, and it writes a message's body and the closing
/// `.` as two writes, so the second waits for the server's delayed ACK — 40 ms on Linux — on
/// every message. That capped sending at about 22 messages a second per connection (see
/// BENCHMARKS.md). Our sockets set TCP_NODELAY. lettre has merged the same fix upstream
/// (lettre/lettre#1159); once released, this pool can go back to lettre's.
pub struct SmtpMailer {
    connector: Connector,
    /// One permit per connection the server may see at once (`mail.smtp.pool_max`).
    permits: tokio::sync::Semaphore,
    /// Connections not in use, the most recently returned last.
    idle: std::sync::Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    settings: SmtpSettings,
}

/// An idle connection is closed after this long (servers close theirs after a few minutes)…
const IDLE_MAX: Duration = Duration::from_secs(60);
/// …and checked with NOOP before reuse once it has been idle this long.
const CHECK_AFTER: Duration = Duration::from_secs(5);

struct Connector {
    host: String,
    port: u16,
    security: SmtpSecurity,
    tls: Option<TlsParameters>,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
}

impl Connector {
    /// A new connection: greeted, encrypted as the settings say, authenticated.
    async fn connect(&self) -> Result<AsyncSmtpConnection, String> {
        let address = (self.host.as_str(), self.port);
        let mut conn = match (&self.security, &self.tls) {
            (SmtpSecurity::Tls, Some(tls)) => {
                // TLS from the first byte: lettre opens this socket itself (without
                // TCP_NODELAY, so port 465 still pays the delayed ACK until lettre's release).
                AsyncSmtpConnection::connect_tokio1(
                    address,
                    Some(self.timeout),
                    &self.hello,
                    Some(tls.clone()),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?
            }
            _ => {
                let tcp =
                    tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(address))
                        .await
                        .map_err(|_| "connection timed out".to_string())?
                        .map_err(|e| format!("cannot connect: {e}"))?;
                tcp.set_nodelay(true)
                    .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
                tokio::time::timeout(
                    self.timeout,
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello),
                )
                .await
                .map_err(|_| "the server did not greet in time".to_string())?
                .map_err(|e| e.to_string())?
            }
        };
        if let (SmtpSecurity::Starttls, Some(tls)) = (&self.security, &self.tls) {
            // Refused when the server does not offer STARTTLS: never falls back to plain text.
            conn.starttls(tls.clone(), &self.hello)
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(conn)
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.describe())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `settings`, authenticating when they name a user (with `password`).
    pub fn new(
        settings: &SmtpSettings,
        password: Option<SmtpPassword>,
    ) -> Result<SmtpMailer, TransportError> {
        if settings.pool_max == 0 {
            return Err(TransportError::Zero("pool_max"));
        }
        if settings.timeout_secs == 0 {
            return Err(TransportError::Zero("timeout_secs"));
        }
        let host = settings.host.clone();
        let tls = match settings.security {
            SmtpSecurity::None => None,
            SmtpSecurity::Starttls | SmtpSecurity::Tls => Some(
                TlsParameters::new(host.clone()).map_err(|source| TransportError::Tls {
                    host: host.clone(),
                    source,
                })?,
            ),
        };
        let credentials = match (&settings.username, password) {
            (Some(username), Some(password)) => {
                Some(Credentials::new(username.clone(), password.0))
            }
            _ => None,
        };
        Ok(SmtpMailer {
            connector: Connector {
                host,
                port: settings.port,
                security: settings.security,
                tls,
                hello: ClientId::default(),
                credentials,
                timeout: Duration::from_secs(settings.timeout_secs),
            },
            permits: tokio::sync::Semaphore::new(settings.pool_max as usize),
            idle: std::sync::Mutex::new(Vec::new()),
            settings: settings.clone(),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(AsyncSmtpConnection, Instant)>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle connection still alive, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, String> {
        loop {
            let Some((mut conn, since)) = self.idle().pop() else {
                return self.connector.connect().await;
            };
            let idle_for = since.elapsed();
            if idle_for >= IDLE_MAX {
                conn.abort().await;
            } else if idle_for < CHECK_AFTER || conn.test_connected().await {
                return Ok(conn);
            }
        }
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let reason = |e: String| format!("{}: {e}", self.describe());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::unavailable(reason("the mailer is closed".into())))?;
        // Connecting, greeting, STARTTLS and login concern the server, whatever the message.
        let mut conn = self
            .checkout()
            .await
            .map_err(|e| SendError::unavailable(reason(e)))?;
        let sent = tokio::time::timeout(
            self.connector.timeout,
            conn.send(message.envelope(), &message.formatted()),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {
                self.idle().push((conn, Instant::now()));
                Ok(())
            }
            Ok(Err(e)) => {
                // lettre ends the session on any failure; a connection it left open is reused.
                if !conn.has_broken() {
                    self.idle().push((conn, Instant::now()));
                }
                let reason = reason(e.to_string());
                Err(match whose_fault(&e) {
                    Fault::Message => SendError::permanent(reason),
                    Fault::MessageForNow => SendError::transient(reason),
                    Fault::Server => SendError::unavailable(reason),
                })
            }
            Err(_) => {
                conn.abort().await;
                Err(SendError::unavailable(reason(
                    "the server did not answer in time".into(),
                )))
            }
        }
    }

    fn describe(&self) -> String {
        let s = &self.settings;
        let security = match s.security {
            SmtpSecurity::Starttls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "no encryption",
        };
        let user = s
            .username
            .as_ref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default();
        format!("SMTP server {}:{} ({security}){user}", s.host, s.port)
    }
}

/// Whose fault a failed transaction (MAIL, RCPT, DATA on an open connection) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// A 55x reply: no such mailbox, mailbox full, address not allowed, transaction failed.
    /// Retrying will not change it.
    Message,
    /// A 45x reply: this mailbox is busy, greylisted, over quota for now.
    MessageForNow,
    /// Anything else is about the server or the connection: no reply (I/O error, timeout, a
    /// reply that does not parse), 421 (closing), and 5xx replies such as 530 (STARTTLS
    /// required) or 535 (authentication failed) and 503 (bad sequence): a wrong password must
    /// not turn the whole queue into dead letters.
    Server,
}

fn whose_fault(e: &lettre::transport::smtp::Error) -> Fault {
    use lettre::transport::smtp::response::Category;
    let about_mail = e
        .status()
        .is_some_and(|code| code.category == Category::MailSystem);
    match (about_mail, e.is_permanent(), e.is_transient()) {
        (true, true, _) => Fault::Message,
        (true, _, true) => Fault::MessageForNow,
        _ => Fault::Server,
    }
}

/// Writes each message as an `.eml` file in a folder, named after its Message-ID: sending the
/// same message again replaces the file, so a retried outbox row never gives two files.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    /// The folder is created when the first message is written.
    pub fn new(dir: impl Into<PathBuf>) -> FileMailer {
        FileMailer { dir: dir.into() }
    }

    /// The file a message with this Message-ID is written to.
    pub fn path_for(&self, message_id: &str) -> PathBuf {
        self.dir.join(format!("{}.eml", file_stem(message_id)))
    }
}

#[async_trait::async_trait]
impl Mailer for FileMailer {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let Some(message_id) = message.headers().get_raw("Message-ID") else {
            return Err(SendError::permanent(
                "the message has no Message-ID to name its file after",
            ));
        };
        let path = self.path_for(message_id);
        let bytes = message.formatted();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &path, &bytes))
            .await
            .map_err(|e| SendError::unavailable(format!("writing the message was cancelled: {e}")))?
            // A folder that cannot be written to (full, read-only, missing rights) refuses
            // every message alike.
            .map_err(|e| SendError::unavailable(format!("{}: {e}", self.describe())))
    }

    fn describe(&self) -> String {
        format!("files under {}", self.dir.display())
    }
}

/// Write to a temporary file in the same folder, then rename over `path`: a reader never sees
/// half a message, and a crash leaves at most a stray temporary file.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A file name from a Message-ID: the brackets dropped, anything but letters, digits and
/// `.-_@+=` replaced by `_`, cut (with a hash to stay unique) when very long.
fn file_stem(message_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let inner = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let mut stem: String = inner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.starts_with('.') || stem.is_empty() {
        stem.insert(0, '_');
    }
    if stem.len() > 160 {
        let hash = hex::encode(Sha256::digest(inner.as_bytes()));
        stem.truncate(140);
        stem.push('-');
        stem.push_str(&hash[..16]);
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::NotificationKind;
    use crate::notify::message::{ExtraHeaders, build_message};
    use crate::notify::templates::RenderedEmail;
    use chrono::{TimeZone, Utc};

    fn message(id: &str, text: &str) -> Message {
        let rendered = RenderedEmail {
            subject: "[Accession] Reminder: ETS No. 112".into(),
            text: text.into(),
            html: format!("<p>{text}</p>"),
            attachments: Vec::new(),
        };
        build_message(
            &"accession@example.org".parse().unwrap(),
            &["moj@gov.example".parse().unwrap()],
            id,
            Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap(),
            &rendered,
            &ExtraHeaders {
                procedure_id: Some("kg-ets-112".into()),
                kind: NotificationKind::Reminder,
            },
        )
        .unwrap()
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn sending_the_same_message_twice_leaves_one_file_with_the_last_content() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox/nested");
        let mailer = FileMailer::new(&outbox);
        mailer
            .send(&message("<outbox-7.1@example.org>", "first"))
            .await
            .unwrap();
        mailer
            .send(&message("<outbox-7.1@example.org>", "second"))
            .await
            .unwrap();
        assert_eq!(files_in(&outbox), ["outbox-7.1@example.org.eml"]);
        let raw = std::fs::read_to_string(outbox.join("outbox-7.1@example.org.eml")).unwrap();
        assert!(raw.contains("second"), "{raw}");
        assert!(!raw.contains("first"), "{raw}");
        assert!(
            raw.contains("Message-ID: <outbox-7.1@example.org>"),
            "{raw}"
        );
    }

    #[tokio::test]
    async fn different_messages_get_different_files() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(dir.path());
        mailer.send(&message("<a.1@x>", "a")).await.unwrap();
        mailer.send(&message("<a.2@x>", "b")).await.unwrap();
        assert_eq!(files_in(dir.path()), ["a.1@x.eml", "a.2@x.eml"]);
    }

    #[test]
    fn file_names_cannot_leave_the_folder() {
        let mailer = FileMailer::new("/outbox");
        assert_eq!(
            mailer.path_for("<../../etc/passwd@x>"),
            PathBuf::from("/outbox/_.._.._etc_passwd@x.eml")
        );
        assert_eq!(
            mailer.path_for("<a/b\\c d@x>"),
            PathBuf::from("/outbox/a_b_c_d@x.eml")
        );
        let long = format!("<{}@x>", "a".repeat(500));
        let name = mailer.path_for(&long);
        assert_eq!(name.parent(), Some(Path::new("/outbox")));
        assert!(name.file_name().unwrap().len() < 200);
        assert_ne!(mailer.path_for(&format!("<{}b@x>", "a".repeat(500))), name);
    }

    #[test]
    fn the_password_comes_from_the_variable_or_the_file_never_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let from = |value: Option<&str>, file: Option<&Path>| {
            SmtpPassword::from_sources(value.map(str::to_string), file)
        };
        assert_eq!(from(Some("pw"), None).unwrap().unwrap().0, "pw");
        assert_eq!(from(None, Some(&file)).unwrap().unwrap().0, "s3cret");
        assert!(from(None, None).unwrap().is_none());
        assert!(matches!(
            from(Some("pw"), Some(&file)),
            Err(TransportError::TwoPasswords)
        ));
        let missing = dir.path().join("absent");
        let err = from(None, Some(&missing)).unwrap_err().to_string();
        assert!(err.contains("absent"), "{err}");
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(
            from(None, Some(&file)),
            Err(TransportError::EmptyPasswordFile(_))
        ));
    }

    fn smtp_settings(username: Option<&str>) -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.org".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: username.map(str::to_string),
            timeout_secs: 30,
            pool_max: 4,
        }
    }

    #[tokio::test]
    async fn the_password_is_never_printed() {
        let password = SmtpPassword::new("hunter2-secret");
        assert!(!format!("{password:?}").contains("hunter2"));
        let mailer = SmtpMailer::new(&smtp_settings(Some("accession")), Some(password)).unwrap();
        let shown = format!("{mailer:?} {}", mailer.describe());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("smtp.example.org:587"), "{shown}");
        assert!(shown.contains("as accession"), "{shown}");
    }

    #[test]
    fn a_zero_pool_or_timeout_is_refused() {
        let mut settings = smtp_settings(None);
        settings.pool_max = 0;
        let err = SmtpMailer::new(&settings, None).unwrap_err().to_string();
        assert!(err.contains("pool_max"), "{err}");
    }

    #[test]
    // figment's `Jail` fixes the closure's error type to `figment::Error`.
    #[allow(clippy::result_large_err)]
    fn smtp_settings_default_to_starttls_on_587_and_follow_the_environment() {
        figment::Jail::expect_with(|jail| {
            let mail = crate::config::Settings::load(None).unwrap().mail;
            assert_eq!(mail.templates_dir, None);
            assert_eq!(mail.smtp.host, "localhost");
            assert_eq!(mail.smtp.port, 587);
            assert_eq!(mail.smtp.security, SmtpSecurity::Starttls);
            assert_eq!(mail.smtp.username, None);
            assert_eq!((mail.smtp.timeout_secs, mail.smtp.pool_max), (30, 4));
            jail.set_env("ACCESSION__MAIL__SMTP__SECURITY", "none");
            jail.set_env("ACCESSION__MAIL__SMTP__USERNAME", "accession");
            jail.set_env("ACCESSION__MAIL__TEMPLATES_DIR", "my/templates");
            let mail = crate::config::Settings::load(None).unwrap().mail;
            assert_eq!(mail.smtp.security, SmtpSecurity::None);
            assert_eq!(mail.smtp.username.as_deref(), Some("accession"));
            assert_eq!(mail.templates_dir, Some(PathBuf::from("my/templates")));
            jail.set_env("ACCESSION__MAIL__SMTP__PASSWORD", "x");
            let err = crate::config::Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("password"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn send_errors_say_whether_to_retry() {
        assert_eq!(
            SendError::permanent("550 no such user").to_string(),
            "permanent failure: 550 no such user"
        );
        assert!(!SendError::transient("timeout").permanent);
        assert_eq!(
            SendError::unavailable("connection refused").to_string(),
            "server unavailable: connection refused"
        );
        assert_eq!(
            SendError::transient("450 mailbox busy").to_string(),
            "transient failure: 450 mailbox busy"
        );
    }
}
