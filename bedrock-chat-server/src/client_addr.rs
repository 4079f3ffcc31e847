//! Where a request comes from: the peer's address, or, behind proxies the operator names, the
//! address those proxies saw (`X-Forwarded-For`). Limits keyed on it cannot be reset by a new
//! cookie, and a forged header gains nothing: only the hops the operator trusts are read.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address of the connection a request arrived on; the server puts it in every request's
/// extensions. Missing only for requests sent to the router in-process (tests), which count as
/// loopback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client's address, as the server found it (`identity::locate`): in every request's
/// extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(IpAddr::from([127, 0, 0, 1]))))
    }
}

/// Which proxies in front of the server may say who the client is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedProxies {
    /// None: the peer is the client, and `X-Forwarded-For` is ignored. The default.
    #[default]
    None,
    /// This many proxies in a row in front of the server (an ALB is one; nginx in front of an
    /// ALB two): the client is the address that many hops back along `X-Forwarded-For`.
    Hops(usize),
    /// Proxies at these addresses: hops are read back from the peer while they are in one of
    /// these networks; the first address outside them is the client.
    Networks(Vec<IpNet>),
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// `0` or `none`, a number of hops (`1`), or networks (`10.0.0.0/8,192.168.1.7`).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("none") || text == "0" {
            return Ok(TrustedProxies::None);
        }
        if let Ok(hops) = text.parse::<usize>() {
            return Ok(TrustedProxies::Hops(hops));
        }
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "{part:?} is neither a number of proxies nor an address or network \
                             (e.g. 1, or 10.0.0.0/8,192.168.1.7)"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies::Networks)
    }
}

impl TrustedProxies {
    /// Whether connections from `peer` come through a proxy the operator trusts.
    pub fn trusts_peer(&self, peer: IpAddr) -> bool {
        match self {
            TrustedProxies::None => false,
            TrustedProxies::Hops(hops) => *hops > 0,
            TrustedProxies::Networks(networks) => networks.iter().any(|n| n.contains(&peer)),
        }
    }

    /// The client's address for a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts_peer(peer) {
            return peer;
        }
        // Every X-Forwarded-For header, in order, then the peer: read back from the right.
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter_map(parse_hop)
            .collect();
        match self {
            TrustedProxies::None => peer,
            TrustedProxies::Hops(hops) => {
                // The peer is the last proxy; each of the other trusted ones appended one entry.
                let back = hops.saturating_sub(1);
                forwarded
                    .len()
                    .checked_sub(back + 1)
                    .map_or(forwarded.first().copied().unwrap_or(peer), |i| forwarded[i])
            }
            TrustedProxies::Networks(networks) => forwarded
                .iter()
                .rev()
                .find(|hop| !networks.iter().any(|n| n.contains(*hop)))
                .or(forwarded.first())
                .copied()
                .unwrap_or(peer),
        }
    }
}

/// One entry of `X-Forwarded-For`: an address, perhaps with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The key limits are counted under for an address. An IPv6 host usually has a whole /64 to
/// itself (and can pick any address in it), so IPv6 addresses count by their /64; IPv4 by the
/// address (IPv4-mapped IPv6 addresses as IPv4).
pub fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_a_forged_header_changes_nothing() {
        let proxies = TrustedProxies::None;
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &headers(&["1.1.1.1"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn hops_read_back_only_as_far_as_the_trusted_proxies() {
        // Client 198.51.100.7 forges "1.1.1.1"; the ALB appends the address it saw.
        let sent = headers(&["1.1.1.1, 198.51.100.7"]);
        let alb = TrustedProxies::Hops(1);
        assert_eq!(alb.client(ip("10.0.0.5"), &sent), ip("198.51.100.7"));
        // nginx behind the ALB appends the ALB's address too.
        let sent = headers(&["1.1.1.1, 198.51.100.7", "10.0.0.5"]);
        let two = TrustedProxies::Hops(2);
        assert_eq!(two.client(ip("10.0.0.6"), &sent), ip("198.51.100.7"));
        // Fewer entries than hops: the leftmost is the best there is.
        assert_eq!(two.client(ip("10.0.0.6"), &headers(&[])), ip("10.0.0.6"));
    }

    #[test]
    fn networks_read_back_while_the_hop_is_a_trusted_proxy() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.7".parse().unwrap();
        let sent = headers(&["1.1.1.1, 198.51.100.7, 10.1.2.3"]);
        assert_eq!(proxies.client(ip("192.168.1.7"), &sent), ip("198.51.100.7"));
        // A peer that is not a trusted proxy is the client, whatever it claims.
        assert_eq!(proxies.client(ip("203.0.113.9"), &sent), ip("203.0.113.9"));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("nonsense".parse::<TrustedProxies>().is_err());
        assert_eq!("0".parse::<TrustedProxies>(), Ok(TrustedProxies::None));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }
}
