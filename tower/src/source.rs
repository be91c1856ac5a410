//! Who made a call, and from where: the actor's id from a JWT claim, a
//! header or a function of the request; the client address from the
//! connection, or from `X-Forwarded-For` when the connection comes from a
//! trusted proxy.
//!
//! The JWT is decoded, not verified: the layer goes inside the service's
//! authentication, which has already checked the token; a request it let
//! through names its caller in the claim.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{HeaderName, header};
use ipnet::IpNet;

/// A function reading a value (the caller, the tenant) from a request.
pub type SourceFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Where a value of the request (the actor's id, the tenant) is read from.
#[derive(Clone)]
pub enum Source {
    /// A claim of the bearer token (a JWT), such as `sub`.
    JwtClaim(String),
    /// A header set by the service's authentication (`x-user-id`).
    Header(HeaderName),
    /// A function of the request's head.
    Fn(SourceFn),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::JwtClaim(c) => f.debug_tuple("JwtClaim").field(c).finish(),
            Source::Header(h) => f.debug_tuple("Header").field(h).finish(),
            Source::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}

impl Source {
    /// The value, when the request has one.
    #[must_use]
    pub fn read(&self, parts: &Parts) -> Option<String> {
        match self {
            Source::JwtClaim(claim) => jwt_claim(parts, claim),
            Source::Header(name) => parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            Source::Fn(f) => f(parts),
        }
        .filter(|id| !id.is_empty())
    }
}

/// A string (or number) claim of the bearer JWT's payload.
fn jwt_claim(parts: &Parts, claim: &str) -> Option<String> {
    let auth = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let payload = token.trim().split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match json.get(claim)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The client's address: the connection's peer, or, when the peer is a
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not one.
/// `None` when the connection's address is not known (the server was not
/// started with connection info) and no header can be trusted.
#[must_use]
pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer(parts)?;
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    let hops: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    // Right to left: each trusted hop vouches for the one before it; the
    // first untrusted one is the client. A hop that is not an address ends
    // the walk at the last trusted one.
    let mut client = peer;
    for hop in hops.iter().rev() {
        if !trusted.iter().any(|net| net.contains(&client)) {
            break;
        }
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => client = ip.to_canonical(),
            Err(_) => break,
        }
    }
    Some(client)
}

/// The connection's peer, as axum (`ConnectInfo<SocketAddr>`) or a plain
/// `SocketAddr` request extension gives it.
fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| parts.extensions.get::<SocketAddr>().copied())
        .map(|a| a.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)], peer: Option<&str>) -> Parts {
        let mut req = http::Request::builder().uri("/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        if let Some(p) = peer {
            parts
                .extensions
                .insert(axum::extract::ConnectInfo(p.parse::<SocketAddr>().unwrap()));
        }
        parts
    }

    fn jwt(payload: &str) -> String {
        format!(
            "Bearer eyJhbGciOiJIUzI1NiJ9.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn the_actor_comes_from_a_claim_a_header_or_a_function() {
        let p = parts(
            &[
                ("authorization", &jwt(r#"{"sub":"alice","uid":7}"#)),
                ("x-user", "bob"),
            ],
            None,
        );
        assert_eq!(
            Source::JwtClaim("sub".into()).read(&p).as_deref(),
            Some("alice")
        );
        assert_eq!(
            Source::JwtClaim("uid".into()).read(&p).as_deref(),
            Some("7")
        );
        assert_eq!(Source::JwtClaim("email".into()).read(&p), None);
        assert_eq!(
            Source::Header(HeaderName::from_static("x-user"))
                .read(&p)
                .as_deref(),
            Some("bob")
        );
        let f: SourceFn = Arc::new(|p: &Parts| Some(p.uri.path().to_string()));
        assert_eq!(Source::Fn(f).read(&p).as_deref(), Some("/x"));
        for bad in [
            "Basic YWxpY2U6cHc=",
            "Bearer not-a-jwt",
            "Bearer a.!!!.c",
            "Bearer a.e30.c",
        ] {
            let p = parts(&[("authorization", bad)], None);
            assert_eq!(Source::JwtClaim("sub".into()).read(&p), None, "{bad}");
        }
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = [("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")];
        // From a trusted proxy: the nearest untrusted hop, not the spoofable first.
        let p = parts(&xff, Some("10.0.0.2:5000"));
        assert_eq!(
            client_ip(&p, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        // From anyone else: the peer; the header is ignored.
        let p = parts(&xff, Some("198.51.100.4:5000"));
        assert_eq!(
            client_ip(&p, &trusted),
            Some("198.51.100.4".parse().unwrap())
        );
        // IPv4 mapped in IPv6 is the IPv4 address.
        let p = parts(&[], Some("[::ffff:192.0.2.1]:80"));
        assert_eq!(client_ip(&p, &trusted), Some("192.0.2.1".parse().unwrap()));
        // Unknown peer: no address.
        assert_eq!(client_ip(&parts(&xff, None), &trusted), None);
        // Garbage in the header stops the walk at the peer.
        let p = parts(&[("x-forwarded-for", "AWS Internal")], Some("10.0.0.2:1"));
        assert_eq!(client_ip(&p, &trusted), Some("10.0.0.2".parse().unwrap()));
    }
}
