//! The outbound address policy for every call Cowry makes to an address a merchant chose (a provider
//! account's `baseUrl`) or that a provider account implies: resolve, then refuse loopback, private
//! (RFC 1918, CGNAT), unique-local, link-local (169.254.169.254 included), multicast and unspecified
//! addresses unless `COWRY_ALLOW_PRIVATE_NETWORKS=true` (tests, local development). Cowry's own
//! configured addresses (this process's emulators, its callback and public URLs) are always allowed,
//! on their exact host and port. A refused call never connects: it fails as `Unavailable` (nothing was
//! sent), in Cowry's words.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

#[derive(Clone, Default)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    allow_private: bool,
    /// (host, port) pairs of Cowry's own addresses, always reachable.
    trusted: RwLock<Vec<(String, u16)>>,
}

impl Guard {
    pub fn new(allow_private: bool) -> Guard {
        Guard {
            inner: Arc::new(Inner {
                allow_private,
                trusted: RwLock::default(),
            }),
        }
    }

    /// Trusts `url`'s exact host and port (Cowry's own addresses).
    pub fn trust(&self, url: &str) {
        if let Some(pair) = Url::parse(url).ok().as_ref().and_then(host_port) {
            let mut trusted = self
                .inner
                .trusted
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if !trusted.contains(&pair) {
                trusted.push(pair);
            }
        }
    }

    fn trusted(&self, pair: &(String, u16)) -> bool {
        let trusted = self.inner.trusted.read().unwrap_or_else(|e| e.into_inner());
        trusted.contains(pair)
    }

    fn trusted_name(&self, name: &str) -> bool {
        let trusted = self.inner.trusted.read().unwrap_or_else(|e| e.into_inner());
        trusted.iter().any(|(host, _)| host == name)
    }

    /// Checks a URL before anything is sent: `Err` says why it may not be called.
    pub fn check(&self, url: &Url) -> Result<(), &'static str> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err("only http and https addresses are called");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("addresses with a user name or password are not called");
        }
        let Some(pair) = host_port(url) else {
            return Err("the address has no host");
        };
        if self.trusted(&pair) || self.inner.allow_private {
            return Ok(());
        }
        // A trusted name on another port is not trusted (it would reach the same private host).
        if self.trusted_name(&pair.0) {
            return Err("the address is not a public one");
        }
        match pair.0.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) if !is_public(ip) => Err("the address is not a public one"),
            // Names are checked when they are resolved (`Resolve` below).
            _ => Ok(()),
        }
    }
}

fn host_port(url: &Url) -> Option<(String, u16)> {
    Some((
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?,
    ))
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
                || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80) // link local fe80::/10
        }
    }
}

/// Resolves names as the system does, then keeps only public addresses (all of them for Cowry's own
/// names, or when private networks are allowed).
impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let open = guard.inner.allow_private || guard.trusted_name(&host);
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| open || is_public(addr.ip()))
                .collect();
            if kept.is_empty() {
                return Err("the address resolves to no public address".into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_link_local_and_loopback_addresses_are_not_public() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(text.parse().unwrap()), "{text}");
        }
        for text in ["8.8.8.8", "41.203.64.1", "2001:4860:4860::8888"] {
            assert!(is_public(text.parse().unwrap()), "{text}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_call() {
        let guard = Guard::new(false);
        guard.trust("http://127.0.0.1:8080");
        let check = |url: &str| guard.check(&Url::parse(url).unwrap());
        assert!(check("http://127.0.0.1:8080/_emulator/paystack").is_ok());
        assert!(check("http://127.0.0.1:5432/").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check("http://[::1]:9000/").is_err());
        assert!(check("http://user:pass@api.paystack.co/").is_err());
        assert!(check("https://api.paystack.co/transaction").is_ok());
        assert!(check("ftp://api.paystack.co/").is_err());
        assert!(Guard::new(true)
            .check(&Url::parse("http://127.0.0.1:5432/").unwrap())
            .is_ok());
    }
}
