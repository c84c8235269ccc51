//! The budget of authentication failures per client. A wrong bearer token, a wrong web sign-in
//! and a wrong calendar feed key all spend from one budget per client address (they guess at the
//! same secrets); a client with nothing left is refused before its credential is looked at, good
//! or bad, until the budget refills — otherwise a lucky guess would still be told it was right.
//! Successful traffic spends nothing.
//!
//! The counting is `governor`'s GCRA, per key in its `DashMap` store. governor can only test a
//! cell by spending it, and a client must be turned away *before* authenticating without a
//! success costing anything; so the store below routes each key either to governor's own store
//! (a failure: spend) or through it without keeping the new state (a look: would a failure be
//! allowed now?). tower_governor's layer does not fit: it spends on every request that passes
//! through it and cannot tell a failed authentication from a good one.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};

use crate::clock::Clock;

/// Whom a budget belongs to: an IPv4 address, or an IPv6 /64 (one subscriber's network, where
/// every address is the same client's to choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client(IpAddr);

impl Client {
    pub fn of(address: IpAddr) -> Client {
        match address.to_canonical() {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                Client(IpAddr::V6(network.into()))
            }
            v4 => Client(v4),
        }
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
            v4 => write!(f, "{v4}"),
        }
    }
}

/// A client has spent its budget: come back after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after: Duration,
}

impl Locked {
    /// Whole seconds for `Retry-After`, rounded up so a client that waits that long is let in.
    pub fn seconds(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

/// The failure budgets of all clients.
pub struct Throttle {
    limiter: RateLimiter<Attempt, Ledger, Time, NoOpMiddleware<Nanos>>,
}

impl Throttle {
    /// `per_minute` failures a minute per client, up to `burst` at once; counted on `clock`.
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32, clock: Arc<dyn Clock>) -> Throttle {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Throttle {
            limiter: RateLimiter::new(quota, Ledger::default(), Time(clock)),
        }
    }

    /// Refused while `client` has no failure left to spend.
    pub fn admit(&self, client: Client) -> Result<(), Locked> {
        self.check(Attempt {
            client,
            spend: false,
        })
    }

    /// Spend one failure of `client`'s budget; refused if none was left (two requests that were
    /// both admitted may race for the last one).
    pub fn fail(&self, client: Client) -> Result<(), Locked> {
        self.check(Attempt {
            client,
            spend: true,
        })?;
        if let Err(locked) = self.admit(client) {
            tracing::warn!(
                %client,
                retry_after_secs = locked.seconds(),
                "this client has spent its budget of authentication failures; it is refused until it refills"
            );
        }
        Ok(())
    }

    fn check(&self, attempt: Attempt) -> Result<(), Locked> {
        self.limiter
            .check_key(&attempt)
            .map_err(|not_until| Locked {
                retry_after: not_until.wait_time_from(self.limiter.clock().now()),
            })
    }

    /// Forget the clients whose budget is full again (they are as if never seen), so memory holds
    /// only the recent failures; `serve` calls it every minute.
    pub fn forget_refilled(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many clients have a budget that is not full.
    pub fn clients(&self) -> usize {
        self.limiter.len()
    }
}

/// A failure to spend, or a look at whether one could be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Attempt {
    client: Client,
    spend: bool,
}

/// governor's own store, keyed by client; a look leaves it as it was.
#[derive(Default)]
struct Ledger(DashMapStateStore<Client>);

impl StateStore for Ledger {
    type Key = Attempt;

    fn measure_and_replace<T, F, E>(&self, key: &Attempt, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if key.spend {
            return self.0.measure_and_replace(&key.client, f);
        }
        if !self.0.contains_key(&key.client) {
            // Never failed (or forgotten): decide on a fresh state without keeping one.
            return f(None).map(|(t, _)| t);
        }
        self.0.measure_and_replace(&key.client, |before| {
            f(before).map(|(t, _)| (t, before.unwrap_or(Nanos::new(0))))
        })
    }
}

impl ShrinkableKeyedStateStore<Attempt> for Ledger {
    fn retain_recent(&self, drop_below: Nanos) {
        self.0.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.0);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&self.0)
    }
}

/// The application's injected clock as governor reads time: nanoseconds since 1970. Tests move
/// it; in production it is the system's wall clock (a jump back lengthens a lockout by the jump,
/// a jump forward shortens it).
#[derive(Clone)]
struct Time(Arc<dyn Clock>);

impl GovernorClock for Time {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let nanos = self.0.now().timestamp_nanos_opt().unwrap_or(0);
        Nanos::new(u64::try_from(nanos).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone, Utc};

    use super::*;
    use crate::clock::ManualClock;

    fn throttle(per_minute: u32, burst: u32) -> (Throttle, ManualClock) {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap());
        let throttle = Throttle::new(
            NonZeroU32::new(per_minute).unwrap(),
            NonZeroU32::new(burst).unwrap(),
            Arc::new(clock.clone()),
        );
        (throttle, clock)
    }

    fn client(ip: &str) -> Client {
        Client::of(ip.parse().unwrap())
    }

    #[test]
    fn a_client_is_locked_after_its_burst_and_let_in_as_the_budget_refills() {
        let (t, clock) = throttle(10, 3);
        let c = client("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(t.admit(c), Ok(()));
            assert_eq!(t.fail(c), Ok(()));
        }
        let locked = t.admit(c).unwrap_err();
        // Ten a minute: one every six seconds.
        assert_eq!(locked.seconds(), 6);
        assert_eq!(t.fail(c), Err(locked), "a refused failure spends nothing");
        assert!(
            t.admit(client("192.0.2.2")).is_ok(),
            "others are not locked"
        );
        clock.advance(TimeDelta::seconds(5));
        assert_eq!(t.admit(c).unwrap_err().seconds(), 1);
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(t.admit(c), Ok(()));
        assert_eq!(t.fail(c), Ok(()));
        assert!(t.admit(c).is_err());
    }

    #[test]
    fn looking_spends_nothing() {
        let (t, _clock) = throttle(10, 2);
        let c = client("192.0.2.1");
        for _ in 0..1000 {
            assert_eq!(t.admit(c), Ok(()));
        }
        assert_eq!(t.clients(), 0, "a look at a client keeps no state for it");
        t.fail(c).unwrap();
        for _ in 0..1000 {
            assert_eq!(t.admit(c), Ok(()));
        }
        t.fail(c).unwrap();
        assert!(t.admit(c).is_err());
    }

    #[test]
    fn clients_whose_budget_refilled_are_forgotten() {
        let (t, clock) = throttle(10, 20);
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.fail(Client::of(ip)).unwrap();
        }
        assert_eq!(t.clients(), 1000);
        t.forget_refilled();
        assert_eq!(t.clients(), 1000, "their failures are recent");
        clock.advance(TimeDelta::seconds(12));
        t.forget_refilled();
        assert_eq!(t.clients(), 0);
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_ipv4() {
        assert_eq!(
            client("2001:db8:1:2:aaaa::1"),
            client("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
        assert_eq!(client("::ffff:192.0.2.7"), client("192.0.2.7"));
        assert_eq!(client("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn retry_after_rounds_up_to_a_whole_second() {
        let s = |ms| {
            Locked {
                retry_after: Duration::from_millis(ms),
            }
            .seconds()
        };
        assert_eq!((s(0), s(1), s(1000), s(1001)), (1, 1, 1, 2));
    }
}
