//! The `mcpServers` JSON that Claude Desktop, Claude Code and VS Code read, read the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// How to reach one MCP server.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum McpTransport {
    /// A child process speaking MCP on its standard input and output.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its environment, beyond the few variables every program needs
        /// ([`INHERITED_VARIABLES`]): nothing else of this process's environment reaches it.
        env: BTreeMap<String, String>,
        /// Its working directory; this process's when `None`.
        cwd: Option<PathBuf>,
    },
    /// A server reached over streamable HTTP.
    Http {
        /// Its MCP endpoint (`https://…/mcp`).
        url: String,
        /// Headers sent with every request (`Authorization`, say).
        headers: BTreeMap<String, String>,
    },
}

impl std::fmt::Debug for McpTransport {
    // Environment values and headers hold tokens: their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &env.keys().collect::<Vec<_>>())
                .field("cwd", cwd)
                .finish(),
            McpTransport::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", url)
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// The variables of this process a child server gets without being given them: what programs
/// need to run at all, as the official MCP SDKs pass (never credentials or tokens).
pub const INHERITED_VARIABLES: &[&str] = &["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

/// One configured server: its name (the key in `mcpServers`) and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpServerConfig {
    /// The name, which prefixes its tools' names.
    pub name: String,
    /// How to reach it.
    pub transport: McpTransport,
}

/// A set of MCP servers, as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct McpConfig {
    /// The servers, in name order.
    pub servers: Vec<McpServerConfig>,
}

impl McpConfig {
    /// Reads an `mcpServers` file (or VS Code's `servers`), expanding `${VAR}` (and
    /// `${VAR:-default}`) from this process's environment.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file and what is wrong: unreadable, not JSON, a server
    /// without `command` or `url`, a variable that is not set.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("MCP configuration {}: {e}", path.display())))?;
        Self::from_json(&text, |name| std::env::var(name).ok()).map_err(|e| match e {
            Error::Config { message, .. } => {
                Error::config(format!("MCP configuration {}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Parses the JSON, expanding `${VAR}` with `lookup`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] saying what is wrong.
    pub fn from_json(json: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| Error::config(format!("not JSON ({e})")))?;
        let servers = value
            .get("mcpServers")
            .or_else(|| value.get("servers"))
            .and_then(Value::as_object)
            .ok_or_else(|| {
                Error::config(
                    "no \"mcpServers\" object; write {\"mcpServers\": {\"name\": {\"command\": \
                     \"…\", \"args\": […]}}}",
                )
            })?;
        let mut config = McpConfig::default();
        for (name, server) in servers {
            if server.get("disabled").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let fail = |message: String| Error::config(format!("server {name:?}: {message}"));
            if name.trim().is_empty() {
                return Err(Error::config("a server has an empty name"));
            }
            let expand = |text: &str| expand(text, &lookup).map_err(&fail);
            let strings = |key: &str| -> Result<BTreeMap<String, String>> {
                let mut map = BTreeMap::new();
                if let Some(object) = server.get(key) {
                    let object = object
                        .as_object()
                        .ok_or_else(|| fail(format!("\"{key}\" must be an object of strings")))?;
                    for (k, v) in object {
                        let v = v
                            .as_str()
                            .ok_or_else(|| fail(format!("\"{key}\".{k} must be a string")))?;
                        map.insert(k.clone(), expand(v)?);
                    }
                }
                Ok(map)
            };
            let kind = server.get("type").and_then(Value::as_str);
            let transport = match (server.get("command"), server.get("url"), kind) {
                (_, _, Some("sse")) => {
                    return Err(fail(
                        "the SSE transport is deprecated and not supported; use the server's \
                         streamable HTTP endpoint (\"type\": \"http\")"
                            .into(),
                    ));
                }
                (Some(command), _, _) => {
                    let command = command
                        .as_str()
                        .filter(|c| !c.trim().is_empty())
                        .ok_or_else(|| fail("\"command\" must be a program name".into()))?;
                    let args = match server.get("args") {
                        None => Vec::new(),
                        Some(Value::Array(args)) => args
                            .iter()
                            .map(|a| {
                                a.as_str()
                                    .ok_or_else(|| fail("\"args\" must be strings".into()))
                                    .and_then(expand)
                            })
                            .collect::<Result<_>>()?,
                        Some(_) => return Err(fail("\"args\" must be an array".into())),
                    };
                    let cwd = match server.get("cwd") {
                        None => None,
                        Some(Value::String(cwd)) => Some(PathBuf::from(expand(cwd)?)),
                        Some(_) => return Err(fail("\"cwd\" must be a path".into())),
                    };
                    McpTransport::Stdio {
                        command: expand(command)?,
                        args,
                        env: strings("env")?,
                        cwd,
                    }
                }
                (None, Some(url), _) => {
                    let url = expand(
                        url.as_str()
                            .ok_or_else(|| fail("\"url\" must be a string".into()))?,
                    )?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(fail(format!("{url:?} is not an http:// or https:// URL")));
                    }
                    McpTransport::Http {
                        url,
                        headers: strings("headers")?,
                    }
                }
                (None, None, _) => {
                    return Err(fail(
                        "needs \"command\" (a program to run) or \"url\" (a streamable HTTP \
                         endpoint)"
                            .into(),
                    ));
                }
            };
            config.servers.push(McpServerConfig {
                name: name.clone(),
                transport,
            });
        }
        Ok(config)
    }
}

/// `${VAR}` and `${VAR:-default}` replaced from `lookup`; `$$` is not special.
fn expand(
    text: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{text:?} has a \"${{\" without its \"}}\""))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "the environment variable {name} is not set (used as ${{{name}}})"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "HOME" => Some("/home/me".into()),
            _ => None,
        }
    }

    #[test]
    fn the_format_users_already_have_is_read_with_variables() {
        let config = McpConfig::from_json(
            r#"{"mcpServers": {
                "git": {"command": "uvx", "args": ["mcp-server-git", "--repository", "${HOME}/src"],
                        "env": {"GITHUB_TOKEN": "${TOKEN}", "MODE": "${MODE:-read}"}},
                "docs": {"type": "http", "url": "https://docs.example/mcp",
                         "headers": {"Authorization": "Bearer ${TOKEN}"}},
                "off": {"command": "x", "disabled": true}
            }}"#,
            env,
        )
        .unwrap();
        assert_eq!(config.servers.len(), 2);
        assert_eq!(config.servers[0].name, "docs");
        let McpTransport::Http { headers, .. } = &config.servers[0].transport else {
            panic!()
        };
        assert_eq!(headers["Authorization"], "Bearer s3cret");
        let McpTransport::Stdio { args, env, .. } = &config.servers[1].transport else {
            panic!()
        };
        assert_eq!(args[2], "/home/me/src");
        assert_eq!(env["MODE"], "read");
        // Debug output names the variables and headers, never their values.
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("GITHUB_TOKEN"), "{debug}");
    }

    #[test]
    fn mistakes_are_named() {
        for (json, says) in [
            ("[1]", "no \"mcpServers\""),
            (
                "{\"mcpServers\": {\"a\": {}}}",
                "server \"a\": needs \"command\"",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": {\"K\": \"${NOPE}\"}}}}",
                "NOPE is not set",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"type\": \"sse\", \"url\": \"http://x/sse\"}}}",
                "SSE transport is deprecated",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"url\": \"file:///etc\"}}}",
                "not an http",
            ),
            (
                "{\"mcpServers\": {\"a\": {\"command\": \"x\", \"args\": \"-v\"}}}",
                "array",
            ),
            ("{not json", "not JSON"),
        ] {
            let error = McpConfig::from_json(json, env).unwrap_err().to_string();
            assert!(error.contains(says), "{json}: {error}");
        }
    }
}
