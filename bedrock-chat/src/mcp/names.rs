//! Tool names Bedrock accepts, from the names MCP servers give.
//!
//! Bedrock takes `[a-zA-Z0-9_-]{1,64}`; an MCP tool may be called `files.read` or be longer, and
//! two servers may each have a `search`. A tool is offered as `server__tool`, each part with
//! every other character made `_`; a name that would be too long, or taken, is shortened and
//! given six hex digits of a hash of the server's and the tool's own names, so the same
//! configuration always gives the same names.

use sha2::{Digest, Sha256};

use crate::tool_spec::MAX_TOOL_NAME_LEN;

/// The Bedrock names of `tools` (each `(server, tool)`), in order, all valid and distinct.
pub(crate) fn bedrock_names(tools: &[(&str, &str)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(tools.len());
    for (server, tool) in tools {
        let plain = format!("{}__{}", sanitize(server), sanitize(tool));
        let name = if plain.len() <= MAX_TOOL_NAME_LEN && !names.contains(&plain) {
            plain
        } else {
            hashed(&plain, server, tool, &names)
        };
        names.push(name);
    }
    names
}

fn sanitize(part: &str) -> String {
    let clean: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "_".to_string()
    } else {
        clean
    }
}

/// `plain` cut to leave room for `_` and six hex digits of the hash of the original names;
/// on the (astronomically unlikely) clash of those too, more digits.
fn hashed(plain: &str, server: &str, tool: &str, taken: &[String]) -> String {
    let digest = Sha256::digest(format!("{server}\0{tool}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    for digits in (6..=hex.len()).step_by(2) {
        let keep = MAX_TOOL_NAME_LEN - 1 - digits;
        let stem: String = plain.chars().take(keep).collect();
        let name = format!("{stem}_{}", &hex[..digits]);
        if !taken.contains(&name) {
            return name;
        }
    }
    // Unreachable in practice: 64 hex digits of SHA-256 clash only for the same input.
    format!("t_{}", &hex[..MAX_TOOL_NAME_LEN - 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn names_are_valid_distinct_and_stable() {
        let long = "x".repeat(100);
        let tools = [
            ("files", "read.file"),
            ("files", "read_file"),
            ("web search", "search"),
            ("docs", "search"),
            ("docs", long.as_str()),
            ("dü", "ünïcode"),
            ("", ""),
        ];
        let names = bedrock_names(&tools);
        assert_eq!(names[0], "files__read_file");
        assert!(
            names[1].starts_with("files__read_file_") && names[1].len() == 23,
            "{names:?}"
        );
        assert_eq!(names[2], "web_search__search");
        assert_eq!(names[3], "docs__search");
        assert!(names[4].len() == 64, "{names:?}");
        assert_eq!(names[5], "d____n_code");
        for name in &names {
            assert!(valid(name), "{name}");
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
        assert_eq!(
            bedrock_names(&tools),
            names,
            "the same configuration, the same names"
        );
    }
}
