//! Requests that come through a reverse proxy: which `X-Forwarded-*` headers are believed.
//!
//! Only a proxy whose address is in `TRUSTED_PROXIES` is believed, and only for:
//! - `X-Forwarded-Host` and `X-Forwarded-Proto`: the host and scheme the browser used, which
//!   `/auth/segment` compares with `REDIRECT_URL`'s before it starts a flow (the session cookie
//!   must come back with Segment's redirect);
//! - `X-Forwarded-For`: the client's address, in the request log.
//!
//! From anyone else these headers are ignored: the host is the `Host` header, the scheme is
//! `http` (the app itself never terminates TLS), and the client is the connection's peer.
//! Nothing else is taken from a request: the app's public origin, and whether its cookies are
//! `Secure`, always come from `REDIRECT_URL`. (actix-web's own `connection_info()` believes
//! these headers from anyone, so it is not used.)

use std::net::IpAddr;

use actix_web::HttpRequest;

pub use crate::config::TrustedProxies;
use actix_web::http::header::{HOST, HeaderMap};

/// Where the browser sent the request: its scheme and host (`localhost:8888`).
#[derive(Debug, PartialEq, Eq)]
pub struct BrowserOrigin {
    /// `Some` only when a trusted proxy said so.
    pub scheme: Option<String>,
    pub host: String,
}

fn forwarded(headers: &HeaderMap, name: &str) -> Option<String> {
    // The first value: the one the proxy nearest the browser wrote.
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_owned())
}

/// The scheme and host the browser used, as far as this request can be believed.
pub fn browser_origin(request: &HttpRequest, trusted: &TrustedProxies) -> BrowserOrigin {
    let headers = request.headers();
    let own_host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !trusted.trusts(request.peer_addr().map(|a| a.ip())) {
        return BrowserOrigin {
            scheme: None,
            host: own_host,
        };
    }
    BrowserOrigin {
        scheme: forwarded(headers, "x-forwarded-proto").map(|s| s.to_ascii_lowercase()),
        host: forwarded(headers, "x-forwarded-host").unwrap_or(own_host),
    }
}

/// The client's address for the log: the hop a trusted proxy appended to `X-Forwarded-For`,
/// else the connection's peer.
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    if !trusted.trusts(peer) {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|h| h.to_str().ok())
        .and_then(|list| list.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str) -> TestRequest {
        TestRequest::default()
            .peer_addr(peer.parse().unwrap())
            .insert_header((HOST, "10.0.0.5:8081"))
            .insert_header(("X-Forwarded-Host", "partner.example.com, evil.example"))
            .insert_header(("X-Forwarded-Proto", "HTTPS"))
            .insert_header(("X-Forwarded-For", "203.0.113.9, 198.51.100.7"))
    }

    #[test]
    fn forwarded_headers_are_believed_only_from_a_trusted_proxy() {
        let trusted = TrustedProxies::parse("127.0.0.1, ::1").unwrap();
        let via_proxy = request("127.0.0.1:40000").to_http_request();
        assert_eq!(
            browser_origin(&via_proxy, &trusted),
            BrowserOrigin {
                scheme: Some("https".into()),
                host: "partner.example.com".into()
            }
        );
        assert_eq!(
            client_address(
                via_proxy.headers(),
                via_proxy.peer_addr().map(|a| a.ip()),
                &trusted
            ),
            Some("198.51.100.7".parse().unwrap())
        );

        let direct = request("192.0.2.1:40000").to_http_request();
        assert_eq!(
            browser_origin(&direct, &trusted),
            BrowserOrigin {
                scheme: None,
                host: "10.0.0.5:8081".into()
            }
        );
        assert_eq!(
            client_address(
                direct.headers(),
                Some("192.0.2.1".parse().unwrap()),
                &trusted
            ),
            Some("192.0.2.1".parse().unwrap())
        );
        // Nobody is trusted unless configured.
        let nobody = TrustedProxies::default();
        assert_eq!(browser_origin(&via_proxy, &nobody).host, "10.0.0.5:8081");
    }
}
