//! Webhook URL validation against SSRF (spec sections 6.2 and 12.8).
//!
//! Rules:
//! - `https://` is required.
//! - The development exception (`--allow-localhost-webhooks`, off by default) also admits
//!   `http://localhost` and `http://127.0.0.x`, and loopback targets of those names.
//! - Every other private, loopback, link-local, shared, multicast or reserved address is
//!   refused, including cloud metadata endpoints (`169.254.169.254`, `fd00:ec2::254`,
//!   `metadata.google.internal`), IPv4 addresses embedded in IPv6, and the IPv6 transition
//!   and special ranges that tunnel to or stand for other networks (6to4 `2002::/16`,
//!   Teredo `2001::/32`, local NAT64 `64:ff9b:1::/48`, discard `100::/64`).
//! - Only the default https port (443) is allowed: a webhook cannot be aimed at another
//!   service on a public host. The development exception (`--allow-localhost-webhooks`)
//!   lifts the port rule, for local receivers on any port.
//!
//! Literal addresses are checked when the subscription is created and again before each
//! delivery. Host names are checked again at connection time by [`GuardedResolver`]: every
//! address a name resolves to must be public, so DNS rebinding cannot reach the inside.
//! Redirects are not followed (see `webhook.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

use super::error::SubError;

/// Which targets are acceptable.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The localhost development exception.
    pub allow_localhost: bool,
}

fn rejected(msg: impl Into<String>) -> SubError {
    SubError::WebhookUrlRejected(msg.into())
}

impl Policy {
    /// Validates a webhook URL; returns it normalized.
    pub fn check(&self, raw: &str) -> Result<Url, SubError> {
        let url =
            Url::parse(raw).map_err(|e| rejected(format!("webhook.url is not a URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(rejected("webhook.url must not carry credentials"));
        }
        let host = url.host().ok_or_else(|| rejected("webhook.url has no host"))?;
        let dev = self.allow_localhost && is_dev_host(&host);
        match url.scheme() {
            "https" => {}
            "http" if dev => {}
            "http" if is_dev_host(&host) => {
                return Err(rejected(
                    "http://localhost webhooks need the development exception \
                     (--allow-localhost-webhooks)",
                ))
            }
            "http" => return Err(rejected("webhook.url must use https")),
            s => return Err(rejected(format!("webhook.url scheme {s:?} is not allowed"))),
        }
        if self.allow_localhost {
            if dev {
                return Ok(url);
            }
        } else if url.port_or_known_default() != Some(443) {
            return Err(rejected(format!(
                "webhook.url must use the default https port 443, not {}",
                url.port().map_or_else(|| "another".to_string(), |p| p.to_string())
            )));
        }
        match host {
            Host::Ipv4(ip) => check_ip(IpAddr::V4(ip))?,
            Host::Ipv6(ip) => check_ip(IpAddr::V6(ip))?,
            Host::Domain(name) => check_name(name)?,
        }
        Ok(url)
    }

    /// Whether a resolved address may be connected to for `name`.
    pub fn address_allowed(&self, name: &str, ip: IpAddr) -> bool {
        if self.allow_localhost && is_localhost_name(name) {
            return ip.is_loopback();
        }
        blocked_reason(ip).is_none()
    }
}

/// `localhost` and `127.0.0.x`: the hosts of the development exception.
fn is_dev_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => is_localhost_name(name),
        Host::Ipv4(ip) => ip.octets()[..3] == [127, 0, 0],
        Host::Ipv6(_) => false,
    }
}

fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn check_name(name: &str) -> Result<(), SubError> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    if is_localhost_name(&lower) {
        return Err(rejected("webhook.url must not target localhost"));
    }
    if matches!(lower.as_str(), "metadata" | "metadata.google.internal" | "instance-data")
        || !lower.contains('.')
    {
        return Err(rejected(format!(
            "webhook.url host {name:?} is a local or metadata name; use a public host name"
        )));
    }
    Ok(())
}

fn check_ip(ip: IpAddr) -> Result<(), SubError> {
    match blocked_reason(ip) {
        None => Ok(()),
        Some(why) => Err(rejected(format!("webhook.url must not target {why} address {ip}"))),
    }
}

/// Why an address is not a public unicast target, if it is not.
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let why = if ip == Ipv4Addr::new(169, 254, 169, 254) {
        "a cloud metadata"
    } else if ip.is_loopback() {
        "a loopback"
    } else if ip.is_private() {
        "a private (RFC 1918)"
    } else if ip.is_link_local() {
        "a link-local"
    } else if a == 0 {
        "an unspecified (0.0.0.0/8)"
    } else if a == 100 && (64..128).contains(&b) {
        "a shared (100.64.0.0/10)"
    } else if a == 192 && b == 0 && c == 0 {
        "an IETF protocol (192.0.0.0/24)"
    } else if a == 198 && (b == 18 || b == 19) {
        "a benchmarking (198.18.0.0/15)"
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        "a multicast or reserved"
    } else {
        return None;
    };
    Some(why)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) and the deprecated IPv4-compatible form carry an IPv4 address.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (seg[..6] == [0; 6] && seg[6] != 0) {
        let [hi, lo] = [seg[6], seg[7]];
        let v4 = Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
        return v4_reason(v4);
    }
    let why = if ip.is_loopback() {
        "a loopback"
    } else if ip.is_unspecified() {
        "an unspecified"
    } else if seg[0] & 0xfe00 == 0xfc00 {
        "a unique-local (fc00::/7, including metadata fd00:ec2::254)"
    } else if seg[0] & 0xffc0 == 0xfe80 || seg[0] & 0xffc0 == 0xfec0 {
        "a link-local or site-local"
    } else if ip.is_multicast() {
        "a multicast"
    } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        "a documentation"
    } else if seg[0] == 0x2002 {
        "a 6to4 (2002::/16)"
    } else if seg[0] == 0x2001 && seg[1] == 0 {
        "a Teredo (2001::/32)"
    } else if seg[..3] == [0x64, 0xff9b, 1] {
        "a local-use NAT64 (64:ff9b:1::/48)"
    } else if seg[..4] == [0x100, 0, 0, 0] {
        "a discard-only (100::/64)"
    } else {
        return None;
    };
    Some(why)
}

/// A DNS resolver for webhook deliveries that refuses names resolving to internal addresses.
pub struct GuardedResolver {
    pub policy: Policy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} did not resolve").into());
            }
            if let Some(bad) = addrs.iter().find(|a| !policy.address_allowed(&host, a.ip())) {
                let msg = format!("{host} resolves to {}, which webhooks may not target", bad.ip());
                return Err(msg.into());
            }
            let iter: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(iter)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROD: Policy = Policy { allow_localhost: false };
    const DEV: Policy = Policy { allow_localhost: true };

    fn code(p: Policy, url: &str) -> Option<&'static str> {
        p.check(url).err().map(|e| e.code())
    }

    #[test]
    fn https_public_hosts_pass() {
        assert!(PROD.check("https://hooks.example.com/x").is_ok());
        assert!(PROD.check("https://93.184.216.34/hook").is_ok());
        assert!(PROD.check("https://[2606:2800:220:1::1]/hook").is_ok());
        assert!(PROD.check("https://hooks.example.com:443/x").is_ok());
        assert!(PROD.check("https://[2001:4860::8888]/").is_ok(), "2001:4860:: is not Teredo");
    }

    #[test]
    fn http_and_internal_targets_are_rejected() {
        for url in [
            "http://hooks.example.com/x",
            "http://10.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://172.16.3.4/",
            "https://192.168.1.1/",
            "https://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:c000:204::1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[64:ff9b:1::5db8:d822]/",
            "https://[100::1]/",
            "https://hooks.example.com:8443/x",
            "https://hooks.example.com:22/x",
            "https://93.184.216.34:6379/",
            "https://2130706433/",
            "https://localhost/",
            "https://metadata.google.internal/",
            "https://intranet/",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            assert_eq!(code(PROD, url), Some("WEBHOOK_URL_REJECTED"), "{url}");
        }
    }

    #[test]
    fn localhost_exception_is_explicit_and_narrow() {
        assert!(code(PROD, "http://127.0.0.1:8080/hook").is_some());
        assert!(code(PROD, "http://localhost:8080/hook").is_some());
        assert!(DEV.check("http://127.0.0.1:8080/hook").is_ok());
        assert!(DEV.check("http://127.0.0.9/hook").is_ok());
        assert!(DEV.check("http://localhost:8080/hook").is_ok());
        assert!(DEV.check("https://localhost/hook").is_ok());
        assert!(code(DEV, "http://127.0.1.1/hook").is_some());
        assert!(code(DEV, "http://10.0.0.1/hook").is_some());
        assert!(code(DEV, "http://[::1]/hook").is_some());
        assert!(DEV.check("https://hooks.example.com:8443/x").is_ok(), "any port in dev mode");
    }

    #[test]
    fn resolved_addresses() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let public = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
        assert!(!PROD.address_allowed("evil.example", lo));
        assert!(PROD.address_allowed("good.example", public));
        assert!(DEV.address_allowed("localhost", lo));
        assert!(!DEV.address_allowed("localhost", public));
        assert!(!DEV.address_allowed("rebind.example", lo));
    }
}
