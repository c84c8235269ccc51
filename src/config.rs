//! Settings: the embedded `config/default.toml`, then an optional file given with `--config`, then
//! environment variables `ACCESSION__SECTION__KEY`. Unknown keys and bad values are errors that
//! name the key and where it came from.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub mail: MailSettings,
    pub calendar: CalendarSettings,
    pub workflows: WorkflowSettings,
    pub demo: DemoSettings,
    pub server: ServerSettings,
    pub scheduler: SchedulerSettings,
    pub dispatcher: DispatcherSettings,
    pub audit: AuditSettings,
    /// The names of the States procedures are about, by code, as emails print them.
    #[serde(default)]
    pub states: std::collections::BTreeMap<String, StateNames>,
    /// What people read on the command line.
    #[serde(default)]
    pub ui: UiSettings,
}

/// The language of the command line's messages to people (`--lang` and `ACCESSION_LANG` win):
/// `en`, `ru` or `ky`. The pages and the mail follow each reader's institution instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSettings {
    #[serde(default = "UiSettings::default_language")]
    pub language: crate::reference::Language,
}

impl UiSettings {
    fn default_language() -> crate::reference::Language {
        crate::reference::Language::En
    }
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            language: UiSettings::default_language(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateNames {
    pub en: String,
    #[serde(default)]
    pub ru: Option<String>,
    #[serde(default)]
    pub ky: Option<String>,
}

impl Settings {
    /// The State's name in `language` (Kyrgyz readers get the Russian name when no Kyrgyz one is
    /// set; English otherwise), or its code.
    pub fn state_name(&self, code: &str, language: crate::reference::Language) -> String {
        use crate::reference::Language;
        match self.states.get(code) {
            Some(names) => match language {
                Language::Ru => names.ru.clone().unwrap_or(names.en.clone()),
                Language::Ky => names
                    .ky
                    .clone()
                    .or(names.ru.clone())
                    .unwrap_or(names.en.clone()),
                _ => names.en.clone(),
            },
            None => code.to_string(),
        }
    }
}

/// Signed checkpoints of the history log. The private key is never in a settings file: this names
/// the file that holds it, or the environment does (`ACCESSION_AUDIT_KEY_FILE`, or
/// `ACCESSION_AUDIT_KEY` with the key itself).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The private key's file, as `audit keygen` writes it.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The public key that checkpoints are checked with, when not given on the command line
    /// (default: the public half of the configured private key).
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// Seconds between the scheduler's checkpoints; 0 makes none.
    pub checkpoint_every_secs: u64,
}

/// The HTTP API of `accession serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Off: `serve` runs only the scheduler and the dispatcher (a worker machine).
    pub enabled: bool,
    pub bind: std::net::SocketAddr,
    /// Failed authentications (wrong tokens, sign-ins, feed keys) a client may make a minute…
    pub auth_failures_per_minute: std::num::NonZeroU32,
    /// …after this many at once; past them it is answered 429 until its budget refills.
    pub auth_failures_burst: std::num::NonZeroU32,
    /// The service is reached only through a reverse proxy that appends the client's address to
    /// `X-Forwarded-For`: the client is that last address. Off, the header is ignored (anyone
    /// can write it) and the client is the connection's peer.
    pub trust_forwarded_for: bool,
    /// How long the answer to a request with an `Idempotency-Key` is kept for its retries
    /// (seconds, `IDEMPOTENCY_TTL_SECS` bounds it); after that the key may be used afresh.
    pub idempotency_ttl_secs: u64,
    /// How long a mailed sign-in link works (minutes, `SIGN_IN_LINK_MINUTES` bounds it).
    #[serde(default = "default_sign_in_link_minutes")]
    pub sign_in_link_minutes: u64,
}

fn default_sign_in_link_minutes() -> u64 {
    15
}

/// The bounds of `server.sign_in_link_minutes`: long enough for mail to arrive, short enough
/// that a link left in a mailbox soon stops mattering (a day at most).
pub const SIGN_IN_LINK_MINUTES: std::ops::RangeInclusive<u64> = 1..=1440;

/// The bounds of `server.idempotency_ttl_secs`: at least two request timeouts, so an answer
/// outlives a client's first retry; at most a year.
pub const IDEMPOTENCY_TTL_SECS: std::ops::RangeInclusive<u64> = 60..=31_536_000;

impl ServerSettings {
    /// `idempotency_ttl_secs` as a duration (checked to be within `IDEMPOTENCY_TTL_SECS` on load).
    pub fn idempotency_ttl(&self) -> chrono::TimeDelta {
        let secs = self
            .idempotency_ttl_secs
            .clamp(*IDEMPOTENCY_TTL_SECS.start(), *IDEMPOTENCY_TTL_SECS.end());
        chrono::TimeDelta::seconds(secs as i64)
    }

    /// `sign_in_link_minutes` as a duration (checked to be within `SIGN_IN_LINK_MINUTES`).
    pub fn sign_in_link_lifetime(&self) -> chrono::TimeDelta {
        let minutes = self
            .sign_in_link_minutes
            .clamp(*SIGN_IN_LINK_MINUTES.start(), *SIGN_IN_LINK_MINUTES.end());
        chrono::TimeDelta::minutes(minutes as i64)
    }
}

/// The timer scheduler: how often it looks, how much it claims at once, how long a claim holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    pub enabled: bool,
    pub interval_secs: u64,
    pub batch_size: u64,
    pub lease_secs: u64,
}

/// The outbox dispatcher: batches, leases and the retry policy for failed sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherSettings {
    pub enabled: bool,
    pub interval_secs: u64,
    pub batch_size: u64,
    pub lease_secs: u64,
    /// After this many failed attempts a row is dead (a coordinator may retry it).
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long, up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
    /// Institutions and conventions are kept in memory this long (milliseconds) after being
    /// read; an import through this process refreshes them at once, one by another process
    /// is seen within this time.
    pub reference_cache_ms: u64,
    /// `/readyz` says not ready when the volume holding a SQLite file has less free space than
    /// this (MiB): a full disk refuses every write, so the service should be drained first.
    pub min_free_mib: u64,
    /// When a SQLite commit reaches the disk: see `SqliteSynchronous`.
    pub sqlite_synchronous: SqliteSynchronous,
}

/// SQLite's `synchronous` in WAL mode. Either way an act is answered only after its COMMIT
/// returned, and a committed act survives the process being killed; the two differ on power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSynchronous {
    /// The WAL is synced at checkpoints: the last acts before a power cut may be lost.
    Normal,
    /// The WAL is synced at every commit: nothing acknowledged is lost to a power cut, at the
    /// cost of one fsync per act (about 11 ms each on the benchmark machine's disk).
    Full,
}

impl std::fmt::Debug for DatabaseSettings {
    // The URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .field("reference_cache_ms", &self.reference_cache_ms)
            .field("min_free_mib", &self.min_free_mib)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .finish()
    }
}

/// The URL with any password replaced by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A lease longer than a day would only keep a crashed instance's work away for longer.
pub const MAX_LEASE_SECS: u64 = 86_400;
/// A week between attempts is as patient as a queue of reminders can usefully be.
pub const MAX_RETRY_SECS: u64 = 7 * 86_400;
/// An SMTP server that takes longer than an hour to answer one command is down.
pub const MAX_SMTP_TIMEOUT_SECS: u64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub outbox_dir: PathBuf,
    pub from: String,
    /// The service's public address, for the links in emails and the calendar feed. Left
    /// unset, it follows the address the server listens on (`server.bind`, or `serve --bind`).
    #[serde(default)]
    pub base_url: String,
    /// Whether `base_url` was left unset and so follows the bound address.
    #[serde(skip)]
    pub base_url_follows_bind: bool,
    /// A folder of templates laid out like `config/templates/`, read instead of the embedded ones.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    pub smtp: SmtpSettings,
}

impl MailSettings {
    /// The longest one send may take: with SMTP, connecting and then each command may each
    /// take up to the timeout; a file is written at once.
    pub fn send_budget_secs(&self) -> u64 {
        match self.transport {
            MailTransport::Smtp => self.smtp.timeout_secs.clamp(1, MAX_SMTP_TIMEOUT_SECS) * 3,
            MailTransport::File => 10,
        }
    }
}

/// The SMTP server. The password is not a setting: it comes from `ACCESSION_SMTP_PASSWORD` or
/// the file named by `ACCESSION_SMTP_PASSWORD_FILE`, so it is never in a file of settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    pub timeout_secs: u64,
    pub pool_max: u32,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, refused if the server cannot (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or in tests.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    pub time_zone: Tz,
    /// The working-day calendar file (weekend and public holidays) business days are counted on.
    #[serde(default)]
    pub holidays: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    pub dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The address people reach a server bound to `bind` at: `http://` and the address, with the
/// loopback address for an unspecified one (`0.0.0.0` is where to listen, not where to go).
pub fn address_of(bind: std::net::SocketAddr) -> String {
    let host = match bind.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("http://{host}:{}", bind.port())
}

impl Settings {
    /// Load the settings from the defaults, `file` and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, Some(Env::prefixed("ACCESSION__").split("__")))
    }

    /// The embedded defaults alone, whatever the environment says: for unit tests, which run
    /// beside tests that set `ACCESSION__*` variables (figment's `Jail` changes the process's
    /// environment, and only other `Jail`s wait for it).
    #[cfg(test)]
    pub(crate) fn embedded_defaults() -> Settings {
        Self::load_from(None, None).expect("the embedded defaults are valid")
    }

    fn load_from(file: Option<&Path>, env: Option<Env>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file(path));
        }
        if let Some(env) = env {
            figment = figment.merge(env);
        }
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        if settings.mail.base_url.trim().is_empty() {
            settings.mail.base_url_follows_bind = true;
            settings.mail.base_url = address_of(settings.server.bind);
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Every value checked against what the program can work with, each problem naming its
    /// key, all of them on one line: at load, so that every command (and `serve` before it
    /// binds its port) refuses bad settings before doing anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems.join("; ")))
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut at_least_one = |key: &str, value: u64| {
            if value == 0 {
                problems.push(format!("`{key}` must be at least 1"));
            }
        };
        let (db, mail, scheduler, dispatcher) = (
            &self.database,
            &self.mail,
            &self.scheduler,
            &self.dispatcher,
        );
        at_least_one("database.max_connections", db.max_connections.into());
        at_least_one("mail.smtp.timeout_secs", mail.smtp.timeout_secs);
        at_least_one("mail.smtp.pool_max", mail.smtp.pool_max.into());
        at_least_one("scheduler.interval_secs", scheduler.interval_secs);
        at_least_one("scheduler.batch_size", scheduler.batch_size);
        at_least_one("scheduler.lease_secs", scheduler.lease_secs);
        at_least_one("dispatcher.interval_secs", dispatcher.interval_secs);
        at_least_one("dispatcher.batch_size", dispatcher.batch_size);
        at_least_one("dispatcher.lease_secs", dispatcher.lease_secs);
        at_least_one("dispatcher.max_attempts", dispatcher.max_attempts.into());
        at_least_one("dispatcher.retry_base_secs", dispatcher.retry_base_secs);

        let url = db.url.trim();
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            problems.push(format!(
                "`database.url` must start with sqlite:// or postgres://, not `{}`",
                redact_url(url).split("://").next().unwrap_or_default()
            ));
        }
        if let Err(e) = mail.from.parse::<lettre::message::Mailbox>() {
            problems.push(format!(
                "`mail.from` `{}` is not an address such as `Accession <accession@example.org>`: {e}",
                mail.from
            ));
        }
        if !(mail.base_url.starts_with("http://") || mail.base_url.starts_with("https://")) {
            problems.push(format!(
                "`mail.base_url` `{}` must start with http:// or https://",
                mail.base_url
            ));
        }
        if mail.transport == MailTransport::Smtp {
            if mail.smtp.host.trim().is_empty() {
                problems.push("`mail.smtp.host` is empty".into());
            }
            if mail.smtp.port == 0 {
                problems.push("`mail.smtp.port` must be a port, not 0".into());
            }
        }
        if mail.smtp.timeout_secs > MAX_SMTP_TIMEOUT_SECS {
            problems.push(format!(
                "`mail.smtp.timeout_secs` ({}) is more than an hour ({MAX_SMTP_TIMEOUT_SECS})",
                mail.smtp.timeout_secs
            ));
        }
        for (key, lease) in [
            ("scheduler.lease_secs", scheduler.lease_secs),
            ("dispatcher.lease_secs", dispatcher.lease_secs),
        ] {
            if lease > MAX_LEASE_SECS {
                problems.push(format!(
                    "`{key}` ({lease}) is more than a day ({MAX_LEASE_SECS}): a crashed \
                     instance's work would wait that long"
                ));
            }
        }
        let budget = mail.send_budget_secs();
        if dispatcher.lease_secs != 0 && dispatcher.lease_secs <= budget {
            problems.push(format!(
                "`dispatcher.lease_secs` ({}) must be longer than one send may take ({budget} s{})",
                dispatcher.lease_secs,
                match mail.transport {
                    MailTransport::Smtp => ": three times mail.smtp.timeout_secs",
                    MailTransport::File => "",
                }
            ));
        }
        if dispatcher.retry_max_secs < dispatcher.retry_base_secs {
            problems.push(format!(
                "`dispatcher.retry_max_secs` ({}) is less than `dispatcher.retry_base_secs` ({})",
                dispatcher.retry_max_secs, dispatcher.retry_base_secs
            ));
        }
        if dispatcher.retry_max_secs > MAX_RETRY_SECS {
            problems.push(format!(
                "`dispatcher.retry_max_secs` ({}) is more than a week ({MAX_RETRY_SECS})",
                dispatcher.retry_max_secs
            ));
        }
        let ttl = self.server.idempotency_ttl_secs;
        if !IDEMPOTENCY_TTL_SECS.contains(&ttl) {
            problems.push(format!(
                "`server.idempotency_ttl_secs` is {ttl}; it must be between {} (two request \
                 timeouts, so an answer outlives a retry) and {} (a year)",
                IDEMPOTENCY_TTL_SECS.start(),
                IDEMPOTENCY_TTL_SECS.end()
            ));
        }
        let minutes = self.server.sign_in_link_minutes;
        if !SIGN_IN_LINK_MINUTES.contains(&minutes) {
            problems.push(format!(
                "`server.sign_in_link_minutes` is {minutes}; it must be between {} and {} (a day)",
                SIGN_IN_LINK_MINUTES.start(),
                SIGN_IN_LINK_MINUTES.end()
            ));
        }
        problems
    }

    pub fn is_postgres(&self) -> bool {
        self.database.url.starts_with("postgres")
    }
}

/// Every error figment found, each with its key and source, on one line.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("`{}`: ", e.path.join("."))
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(source) => format!(" (from {} {source})", m.name),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
// figment's `Jail` fixes the closures' error type to `figment::Error`.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_are_the_embedded_sqlite_file_and_bishkek() {
        Jail::expect_with(|_| {
            let s = Settings::load(None).unwrap();
            assert_eq!(s.database.url, "sqlite://data/accession.db");
            assert_eq!(s.mail.transport, MailTransport::File);
            assert_eq!(s.calendar.time_zone, chrono_tz::Asia::Bishkek);
            assert_eq!(s.workflows.dir, PathBuf::from("workflows"));
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_the_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "prod.toml",
                "[database]\nurl = \"sqlite://prod.db\"\nmax_connections = 3\n",
            )?;
            jail.set_env("ACCESSION__DATABASE__URL", "postgres://u:secret@db/acc");
            let s = Settings::load(Some(Path::new("prod.toml"))).unwrap();
            assert_eq!(s.database.url, "postgres://u:secret@db/acc");
            assert_eq!(s.database.max_connections, 3);
            assert!(!format!("{s:?}").contains("secret"));
            Ok(())
        });
    }

    #[test]
    fn the_public_address_follows_the_bound_one_unless_set() {
        Jail::expect_with(|jail| {
            let s = Settings::load(None).unwrap();
            assert!(s.mail.base_url_follows_bind);
            assert_eq!(s.mail.base_url, "http://127.0.0.1:8080");
            jail.set_env("ACCESSION__SERVER__BIND", "10.0.0.5:9000");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.mail.base_url, "http://10.0.0.5:9000");
            jail.set_env("ACCESSION__SERVER__BIND", "0.0.0.0:9000");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.mail.base_url, "http://127.0.0.1:9000");
            jail.set_env(
                "ACCESSION__MAIL__BASE_URL",
                "https://accession.mfa.example.org",
            );
            let s = Settings::load(None).unwrap();
            assert!(!s.mail.base_url_follows_bind);
            assert_eq!(s.mail.base_url, "https://accession.mfa.example.org");
            Ok(())
        });
        assert_eq!(
            address_of("[::]:8080".parse().unwrap()),
            "http://[::1]:8080"
        );
        assert_eq!(
            address_of("[2001:db8::1]:443".parse().unwrap()),
            "http://[2001:db8::1]:443"
        );
    }

    #[test]
    fn an_unknown_key_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "bad.toml",
                "[database]\nurl = \"sqlite://x.db\"\npool = 3\n",
            )?;
            let err = Settings::load(Some(Path::new("bad.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("pool"), "{err}");
            assert!(err.contains("bad.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_is_named() {
        Jail::expect_with(|jail| {
            jail.set_env("ACCESSION__CALENDAR__TIME_ZONE", "Mars/Olympus");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("calendar.time_zone"), "{err}");
            jail.set_env("ACCESSION__CALENDAR__TIME_ZONE", "Asia/Bishkek");
            jail.set_env("ACCESSION__MAIL__TRANSPORT", "pigeon");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("mail.transport"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn idempotency_keys_last_a_day_unless_set_within_bounds() {
        Jail::expect_with(|jail| {
            let s = Settings::load(None).unwrap();
            assert_eq!(s.server.idempotency_ttl_secs, 86_400);
            assert_eq!(s.server.idempotency_ttl(), chrono::TimeDelta::hours(24));
            jail.set_env("ACCESSION__SERVER__IDEMPOTENCY_TTL_SECS", "3600");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.server.idempotency_ttl(), chrono::TimeDelta::hours(1));
            jail.set_env("ACCESSION__SERVER__IDEMPOTENCY_TTL_SECS", "5");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("server.idempotency_ttl_secs"), "{err}");
            assert!(err.contains("is 5"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn every_bad_setting_is_named_on_one_line() {
        Jail::expect_with(|jail| {
            jail.set_env("ACCESSION__DISPATCHER__LEASE_SECS", "10");
            jail.set_env("ACCESSION__SCHEDULER__BATCH_SIZE", "0");
            jail.set_env("ACCESSION__MAIL__FROM", "not an address");
            jail.set_env("ACCESSION__DISPATCHER__RETRY_MAX_SECS", "30");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(!err.contains('\n'), "{err}");
            for key in [
                "`dispatcher.lease_secs` (10) must be longer than one send may take (10 s)",
                "`scheduler.batch_size` must be at least 1",
                "`mail.from` `not an address`",
                "`dispatcher.retry_max_secs` (30) is less than `dispatcher.retry_base_secs` (60)",
            ] {
                assert!(err.contains(key), "{key}: {err}");
            }
            jail.set_env("ACCESSION__DISPATCHER__LEASE_SECS", "120");
            jail.set_env("ACCESSION__SCHEDULER__BATCH_SIZE", "100");
            jail.set_env("ACCESSION__MAIL__FROM", "Accession <a@example.org>");
            jail.set_env("ACCESSION__DISPATCHER__RETRY_MAX_SECS", "3600");
            jail.set_env("ACCESSION__MAIL__TRANSPORT", "smtp");
            jail.set_env("ACCESSION__MAIL__SMTP__TIMEOUT_SECS", "40");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(
                err.contains("(120) must be longer than one send may take (120 s: three times"),
                "{err}"
            );
            jail.set_env("ACCESSION__DATABASE__URL", "mysql://u:secret@h/db");
            jail.set_env("ACCESSION__MAIL__SMTP__TIMEOUT_SECS", "30");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("`database.url` must start with"), "{err}");
            assert!(!err.contains("secret"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_defaults_are_valid() {
        Jail::expect_with(|_| {
            Settings::load(None).unwrap().validate().unwrap();
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let err = Settings::load(Some(Path::new("/nonexistent/accession.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/a.db"), "sqlite://data/a.db");
    }
}
