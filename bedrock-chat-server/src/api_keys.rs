//! Named API keys for `/v1`, as LiteLLM's virtual keys: each caller its own key, its own daily
//! budget and rate, so one caller's spending never locks out the others. The file holds only
//! SHA-256 digests of the keys, never the keys.
//!
//! ```json
//! {"keys": [
//!   {"name": "team-a", "sha256": "9f86d08…", "daily_usd": 20, "turns_per_minute": 60},
//!   {"name": "ci", "sha256": "60303ae…"}
//! ]}
//! ```
//!
//! A key's digest: `printf %s "$KEY" | sha256sum`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One named key and its limits.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKey {
    /// Its name: what limits, logs and metrics call it.
    pub name: String,
    /// US dollars it may spend per UTC day; `None` for the server's per-visitor cap.
    pub daily_usd: Option<f64>,
    /// Requests per minute; `None` for the server's per-visitor rate.
    pub turns_per_minute: Option<u32>,
}

/// The keys of a key file, found by the digest of what a caller sends.
#[derive(Clone, Default, PartialEq)]
pub struct ApiKeys {
    by_digest: HashMap<[u8; 32], ApiKey>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.by_digest.values().map(|k| k.name.as_str()).collect();
        names.sort_unstable();
        f.debug_struct("ApiKeys").field("names", &names).finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: String,
    sha256: String,
    #[serde(default)]
    daily_usd: Option<f64>,
    #[serde(default)]
    turns_per_minute: Option<u32>,
}

impl ApiKeys {
    /// Reads a key file.
    ///
    /// # Errors
    ///
    /// What is wrong with the file, naming the entry: unreadable, not JSON of this shape, a
    /// digest that is not 64 hex digits, a name used twice or not of `[A-Za-z0-9_.-]`, a
    /// budget that is negative or a rate of 0.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a key file's text.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: KeyFile = serde_json::from_str(text).map_err(|e| {
            format!("not a key file ({e}); expected {{\"keys\": [{{\"name\", \"sha256\"}}]}}")
        })?;
        let mut keys = ApiKeys::default();
        for (index, entry) in file.keys.into_iter().enumerate() {
            let at = format!("keys[{index}] ({:?})", entry.name);
            let valid_name = !entry.name.is_empty()
                && entry.name.len() <= 64
                && entry
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !valid_name {
                return Err(format!(
                    "{at}: a name is 1 to 64 letters, digits, `_`, `-` or `.`"
                ));
            }
            let digest = hex32(&entry.sha256).ok_or_else(|| {
                format!("{at}: sha256 must be 64 hex digits (printf %s \"$KEY\" | sha256sum)")
            })?;
            if entry
                .daily_usd
                .is_some_and(|usd| !(usd >= 0.0 && usd.is_finite()))
            {
                return Err(format!(
                    "{at}: daily_usd must be a number of dollars, at least 0"
                ));
            }
            if entry.turns_per_minute == Some(0) {
                return Err(format!("{at}: turns_per_minute must be at least 1"));
            }
            if keys.by_digest.values().any(|k| k.name == entry.name) {
                return Err(format!("{at}: the name is used twice"));
            }
            if keys.by_digest.contains_key(&digest) {
                return Err(format!("{at}: the same key is listed twice"));
            }
            keys.by_digest.insert(
                digest,
                ApiKey {
                    name: entry.name,
                    daily_usd: entry.daily_usd,
                    turns_per_minute: entry.turns_per_minute,
                },
            );
        }
        Ok(keys)
    }

    /// The key a caller sent, if it is one of these. The lookup is by the key's digest, so
    /// how long it takes says nothing about any key.
    pub fn find(&self, presented: &str) -> Option<&ApiKey> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.by_digest.get(&digest)
    }

    /// The key named `name`.
    pub fn named(&self, name: &str) -> Option<&ApiKey> {
        self.by_digest.values().find(|k| k.name == name)
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // printf %s test-key | sha256sum
    const TEST_KEY_SHA256: &str =
        "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef";

    #[test]
    fn keys_are_found_by_their_digest_and_never_kept() {
        let keys = ApiKeys::parse(&format!(
            r#"{{"keys": [{{"name": "team-a", "sha256": "{TEST_KEY_SHA256}", "daily_usd": 2}}]}}"#
        ))
        .unwrap();
        let key = keys.find("test-key").unwrap();
        assert_eq!(key.name, "team-a");
        assert_eq!(key.daily_usd, Some(2.0));
        assert!(keys.find("test-kex").is_none());
        assert!(!format!("{keys:?}").contains(TEST_KEY_SHA256));
    }

    #[test]
    fn a_bad_file_says_what_is_wrong_and_where() {
        for (text, says) in [
            ("[]", "not a key file"),
            (
                r#"{"keys": [{"name": "a", "sha256": "xyz"}]}"#,
                "64 hex digits",
            ),
            (
                &format!(r#"{{"keys": [{{"name": "a b", "sha256": "{TEST_KEY_SHA256}"}}]}}"#),
                "letters, digits",
            ),
            (
                &format!(
                    r#"{{"keys": [{{"name": "a", "sha256": "{TEST_KEY_SHA256}", "daily_usd": -1}}]}}"#
                ),
                "at least 0",
            ),
            (
                &format!(
                    r#"{{"keys": [{{"name": "a", "sha256": "{TEST_KEY_SHA256}"}}, {{"name": "a", "sha256": "{}"}}]}}"#,
                    "0".repeat(64)
                ),
                "used twice",
            ),
        ] {
            let error = ApiKeys::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
