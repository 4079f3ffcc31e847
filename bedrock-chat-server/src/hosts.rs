//! The `Host` allow-list, checked before routing: the defence against DNS rebinding. A page on
//! `attacker.example` whose name is made to resolve to 127.0.0.1 sends requests whose `Host`
//! and `Origin` are both `attacker.example`, so comparing them proves nothing; refusing any
//! `Host` the operator did not name does.

use std::str::FromStr;

/// The host names the server answers to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedHosts {
    /// `localhost`, `127.0.0.1` and `[::1]`, on any port: what a server on loopback is reached
    /// by. The default.
    #[default]
    Loopback,
    /// Only these names (any port), compared without case; a name starting with `.` allows
    /// every subdomain of it.
    Names(Vec<String>),
    /// Any host: said out loud with `*`, for a server whose proxy checks the host itself.
    Any,
}

impl FromStr for AllowedHosts {
    type Err = String;

    /// `*`, or names separated by commas (`chat.example.com,.example.org`).
    fn from_str(text: &str) -> Result<Self, String> {
        let names: Vec<String> = text
            .split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        if names.is_empty() {
            return Err("name at least one host (chat.example.com), or * for any".to_string());
        }
        if names.iter().any(|name| name == "*") {
            return Ok(AllowedHosts::Any);
        }
        if let Some(bad) = names
            .iter()
            .find(|n| n.contains(['/', ' ', '@']) || n.contains("://"))
        {
            return Err(format!(
                "{bad:?} is not a host name; give names such as chat.example.com"
            ));
        }
        Ok(AllowedHosts::Names(names))
    }
}

impl AllowedHosts {
    /// Whether a request with this `Host` header is served.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host);
        match self {
            AllowedHosts::Any => true,
            AllowedHosts::Loopback => matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]"),
            AllowedHosts::Names(names) => names.iter().any(|allowed| {
                if let Some(domain) = allowed.strip_prefix('.') {
                    name == domain || name.ends_with(allowed.as_str())
                } else {
                    name == *allowed
                }
            }),
        }
    }
}

/// The name of a `Host` header, lower-case, without its port (`[::1]:8080` gives `[::1]`), or
/// an empty name (which no list but `*` serves) when it is not a name with an optional port.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return String::new();
        };
        let port = match &rest[end + 1..] {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return String::new(),
            },
        };
        (&host[..end + 2], port)
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let bad_port = port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()));
    if bad_port || name.contains(['/', '@', ' ']) {
        return String::new();
    }
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_serves_only_loopback_names_on_any_port() {
        let hosts = AllowedHosts::Loopback;
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "LOCALHOST.",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "attacker.example",
            "attacker.example:8080",
            "127.0.0.2",
            "",
            "[::2]",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    #[test]
    fn named_hosts_and_subdomains() {
        let hosts: AllowedHosts = "chat.example.com, .example.org".parse().unwrap();
        assert!(hosts.allows("chat.example.com:443"));
        assert!(hosts.allows("a.example.org"));
        assert!(hosts.allows("example.org"));
        assert!(!hosts.allows("evil-example.org"));
        assert!(!hosts.allows("chat.example.com.evil.example"));
        assert!(!hosts.allows("localhost"));
        assert_eq!("*".parse::<AllowedHosts>(), Ok(AllowedHosts::Any));
        assert!("".parse::<AllowedHosts>().is_err());
        assert!("http://x".parse::<AllowedHosts>().is_err());
    }
}
