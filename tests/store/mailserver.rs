//! A real SMTP server on a loopback port (mailin-embedded) that keeps what it receives.

use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, response};

/// One message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// A header's raw value (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

#[derive(Default)]
pub struct Inbox {
    messages: Mutex<Vec<Received>>,
    arrived: Condvar,
    /// SMTP sessions opened (one EHLO each without STARTTLS).
    sessions: std::sync::atomic::AtomicUsize,
    /// While set, every command is answered 421 (service not available): an outage the test
    /// can start and end without freeing the port.
    unavailable: std::sync::atomic::AtomicBool,
    /// Recipients containing this are answered 450 (mailbox unavailable, try later): a
    /// temporary failure of one message.
    defer: Mutex<Option<String>>,
    /// Commands answered 421 while unavailable: how often the server was knocked on.
    turned_away: std::sync::atomic::AtomicUsize,
}

impl Inbox {
    /// How many sessions clients have opened so far.
    pub fn sessions(&self) -> usize {
        self.sessions.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wait until `count` messages are in, at most ten seconds; what is in by then.
    pub fn wait_for(&self, count: usize) -> Vec<Received> {
        let messages = self.messages.lock().unwrap();
        let (messages, _) = self
            .arrived
            .wait_timeout_while(messages, Duration::from_secs(10), |m| m.len() < count)
            .unwrap();
        messages.clone()
    }

    /// Wait until a message satisfies `found`, at most ten seconds; whether one did. Blocks the
    /// thread: from async code, call it through `spawn_blocking`.
    pub fn wait_until(&self, found: impl Fn(&Received) -> bool) -> bool {
        let messages = self.messages.lock().unwrap();
        let (messages, _) = self
            .arrived
            .wait_timeout_while(messages, Duration::from_secs(10), |m| !m.iter().any(&found))
            .unwrap();
        messages.iter().any(found)
    }

    /// What is in now.
    pub fn all(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Start (true) or end (false) an outage: while it lasts every command gets 421.
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answer recipients containing `pattern` with 450 from now on (`None`: accept them again).
    pub fn defer(&self, pattern: Option<&str>) {
        *self.defer.lock().unwrap() = pattern.map(str::to_string);
    }

    /// How many commands were turned away with 421 so far.
    pub fn turned_away(&self) -> usize {
        self.turned_away.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// 421 while unavailable, counted.
    fn outage(&self) -> Option<Response> {
        if !self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        self.turned_away
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(response::NO_SERVICE)
    }
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Inbox>,
    current: Received,
    /// Recipients containing this are refused with 550 (a permanent failure).
    refuse: Option<String>,
}

impl Handler for Collector {
    fn helo(&mut self, _ip: std::net::IpAddr, _domain: &str) -> Response {
        self.inbox
            .sessions
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inbox.outage().unwrap_or(response::OK)
    }

    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> Response {
        // Pooled connections opened before the outage meet it here.
        self.inbox.outage().unwrap_or(response::OK)
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if let Some(outage) = self.inbox.outage() {
            return outage;
        }
        let deferred = self.inbox.defer.lock().unwrap().clone();
        match (&self.refuse, deferred) {
            (Some(bad), _) if to.contains(bad.as_str()) => response::NO_MAILBOX,
            (_, Some(later)) if to.contains(later.as_str()) => {
                Response::custom(450, "Mailbox busy, try again later".into())
            }
            _ => response::OK,
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        if let Some(outage) = self.inbox.outage() {
            return outage;
        }
        self.current = Received {
            from: from.to_string(),
            to: to.to_vec(),
            data: String::new(),
        };
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let received = std::mem::take(&mut self.current);
        self.inbox.messages.lock().unwrap().push(received);
        self.inbox.arrived.notify_all();
        response::OK
    }
}

/// A free loopback port with nothing listening on it (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server on `port` (0: any free one), refusing recipients that contain `refuse`; serves until
/// the test process ends. Returns the port.
pub fn start(port: u16, refuse: Option<&str>) -> (u16, Arc<Inbox>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Arc::new(Inbox::default());
    let mut server = Server::new(Collector {
        inbox: Arc::clone(&inbox),
        current: Received::default(),
        refuse: refuse.map(str::to_string),
    });
    server
        .with_name("smtp.test")
        // A thread per connection: enough for every pooled connection of the dispatchers a test
        // runs (idle ones hold theirs).
        .with_num_threads(32)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(e) = server.serve() {
            panic!("the test SMTP server stopped: {e}");
        }
    });
    (port, inbox)
}
