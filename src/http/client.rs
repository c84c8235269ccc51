//! Which client a request comes from, for its budget of authentication failures: the address of
//! the connection's peer, or — when `server.trust_forwarded_for` says a reverse proxy stands in
//! front — the address that proxy appended to `X-Forwarded-For`.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::HttpState;
use super::throttle::Client;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client of a request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Client);

impl ClientAddress {
    pub fn of(parts: &Parts, state: &HttpState) -> ClientAddress {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = state
            .app
            .settings
            .server
            .trust_forwarded_for
            .then(|| last_forwarded(&parts.headers))
            .flatten();
        // No peer only when the router is called without a server (unit tests): one budget.
        let address = forwarded
            .or(peer)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        ClientAddress(Client::of(address))
    }
}

impl FromRequestParts<HttpState> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Infallible> {
        Ok(ClientAddress::of(parts, state))
    }
}

/// The last address of the last `X-Forwarded-For`: the one the trusted proxy appended (what came
/// before it is whatever the client chose to send).
fn last_forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_address_the_proxy_appended() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(
            last_forwarded(&headers(&["203.0.113.7"])),
            ip("203.0.113.7")
        );
        assert_eq!(
            last_forwarded(&headers(&["10.0.0.1, 198.51.100.2 , 203.0.113.7"])),
            ip("203.0.113.7")
        );
        assert_eq!(
            last_forwarded(&headers(&["1.1.1.1", "203.0.113.7"])),
            ip("203.0.113.7")
        );
        assert_eq!(
            last_forwarded(&headers(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        assert_eq!(last_forwarded(&headers(&["203.0.113.7, unknown"])), None);
        assert_eq!(last_forwarded(&HeaderMap::new()), None);
    }
}
