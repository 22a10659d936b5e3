//! The client's IP address, for attempt limits and the audit trail (RFC 7239 §5.2 and the
//! de-facto `X-Forwarded-For`; OWASP Credential Stuffing Cheat Sheet; docs/threat-model.md IN-06).
//!
//! The socket peer is the client, unless the peer is one of the configured `trusted_proxies`.
//! Only then is `X-Forwarded-For` read, from the right: each proxy appends the address it
//! received the request from, so the right-most hop that is not a trusted proxy is the first
//! address nobody we trust vouched for, and the client as far as we can know. Everything left
//! of it was written by the client and is ignored. A direct client sending the header changes
//! nothing.

use actix_web::HttpRequest;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpCidr {
    network: IpAddr,
    prefix: u8,
}

impl IpCidr {
    /// Whether `ip` is in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_bits(u128::from(u32::from(net)), 32, self.prefix)
                    == mask_bits(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_bits(u128::from(net), 128, self.prefix)
                    == mask_bits(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn mask_bits(value: u128, width: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(width.saturating_sub(prefix));
    if host_bits >= 128 {
        0
    } else {
        value >> host_bits
    }
}

impl FromStr for IpCidr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (raw, None),
        };
        let network = IpAddr::from_str(addr)
            .map_err(|_| format!("{raw:?} is not an IP address or CIDR network"))?
            .to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("{raw:?} has a prefix length outside 0..={width}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl std::fmt::Display for IpCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The client's address as the request shows it; `None` only without a socket peer.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpCidr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(resolve(peer, &forwarded, trusted_proxies))
}

/// [`client_ip`] without the request: `peer`, then the `X-Forwarded-For` header lines in
/// order (several lines are one comma-separated list, RFC 9110 §5.3).
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted_proxies: &[IpCidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if !is_trusted(client) {
        return client;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|line| line.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            // The nearest hop we cannot read: stop at the last trusted one, which vouches for
            // nothing further.
            None => return client,
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    return ip;
                }
            }
        }
    }
    // Every hop was a trusted proxy: the left-most one is as far as the chain goes.
    client
}

/// One `X-Forwarded-For` element: an address, optionally with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), which some proxies add.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = IpAddr::from_str(hop) {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (addr, _) = rest.split_once(']')?;
        return IpAddr::from_str(addr).ok().map(|ip| ip.to_canonical());
    }
    let (addr, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    std::net::Ipv4Addr::from_str(addr).ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpCidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let cases = [
            ("10.0.0.0/8", "10.200.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.0.2.7", "192.0.2.7", true),
            ("192.0.2.7", "192.0.2.8", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("10.0.0.0/8", "2001:db8::1", false),
            ("::/0", "::1", true),
        ];
        for (net, addr, inside) in cases {
            let net: IpCidr = net.parse().unwrap();
            assert_eq!(net.contains(ip(addr)), inside, "{net} {addr}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "2001:db8::/129",
            "example.com",
            "10.0.0.0/x",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<IpCidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_behind_a_trusted_proxy_and_from_the_right() {
        let proxies = nets(&["10.0.0.0/8"]);
        let cases: [(&str, &[&str], &str); 8] = [
            // A direct client cannot claim another address.
            ("203.0.113.5", &["198.51.100.1"], "203.0.113.5"),
            // Behind our proxy: the hop the proxy saw.
            ("10.0.0.2", &["198.51.100.1"], "198.51.100.1"),
            // The client prepends a fake hop; the proxy appends the real one.
            ("10.0.0.2", &["1.2.3.4, 198.51.100.1"], "198.51.100.1"),
            // Two of our proxies in a row.
            ("10.0.0.2", &["198.51.100.1, 10.0.0.9"], "198.51.100.1"),
            // Several header lines are one list.
            ("10.0.0.2", &["1.2.3.4", "198.51.100.1"], "198.51.100.1"),
            // No header: the proxy itself.
            ("10.0.0.2", &[], "10.0.0.2"),
            // Garbage right of the client: stop at the last trusted hop.
            ("10.0.0.2", &["198.51.100.1, nonsense"], "10.0.0.2"),
            // Ports are tolerated.
            ("10.0.0.2", &["198.51.100.1:4711"], "198.51.100.1"),
        ];
        for (peer, header, expected) in cases {
            assert_eq!(
                resolve(ip(peer), header, &proxies),
                ip(expected),
                "{peer} {header:?}"
            );
        }
        assert_eq!(
            resolve(ip("10.0.0.2"), &["[2001:db8::7]:443"], &proxies),
            ip("2001:db8::7")
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &["198.51.100.1"], &[]),
            ip("10.0.0.2")
        );
    }
}
