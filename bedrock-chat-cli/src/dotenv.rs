//! What a `.env` file in the working directory may set.
//!
//! A `.env` comes with whatever folder the REPL is started in, such as a freshly cloned
//! repository, so it is trusted less than the user's own environment and flags:
//!
//! - it may set the chat settings (`BEDROCK_MODEL_ID`, `BEDROCK_SYSTEM_PROMPT`, ...), the region
//!   and profile, and, under the library's rule, credentials;
//! - it may not choose where files are written: `BEDROCK_CHAT_HISTORY_FILE` from `.env` is
//!   ignored, with a warning (a `.env` naming `~/.bashrc` must not get it rewritten);
//! - it may set the endpoint URL (local test servers use it), but never silently: the REPL says
//!   at start that requests, signed with the user's credentials, go to that address.

use std::ffi::OsString;

/// The variables that name files the REPL writes.
pub const FILE_VARIABLES: [&str; 1] = ["BEDROCK_CHAT_HISTORY_FILE"];

/// The variables that choose the Bedrock endpoint.
pub const ENDPOINT_VARIABLES: [&str; 2] = ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"];

/// The real environment's say on what `.env` may not decide alone, recorded before `.env` is
/// read.
#[derive(Debug, Clone)]
pub struct Environment {
    history_file: Option<OsString>,
    had_endpoint: bool,
}

impl Environment {
    /// Records the process environment as it is now.
    pub fn capture() -> Self {
        Environment {
            history_file: std::env::var_os(FILE_VARIABLES[0]).filter(|v| !v.is_empty()),
            had_endpoint: ENDPOINT_VARIABLES
                .iter()
                .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty())),
        }
    }

    /// An environment with nothing set, for tests.
    pub fn empty() -> Self {
        Environment {
            history_file: None,
            had_endpoint: false,
        }
    }

    /// The history file the user's own environment names, if any.
    pub fn history_file(&self) -> Option<&OsString> {
        self.history_file.as_ref()
    }

    /// Warnings for the user about what `.env` tried to set: call after it was loaded.
    pub fn notices(&self, endpoint_flag_given: bool) -> Vec<String> {
        let mut notices = Vec::new();
        for name in FILE_VARIABLES {
            if self.history_file.is_none() && std::env::var_os(name).is_some_and(|v| !v.is_empty())
            {
                notices.push(format!(
                    "warning: ignoring {name} from .env: a .env file may not choose where files are written; set it in your environment or use --history-file"
                ));
            }
        }
        if !self.had_endpoint && !endpoint_flag_given {
            for name in ENDPOINT_VARIABLES {
                if let Ok(url) = std::env::var(name)
                    && !url.is_empty()
                {
                    notices.push(format!(
                        "note: .env sets {name}: requests, signed with your AWS credentials, go to {url}"
                    ));
                    break;
                }
            }
        }
        notices
    }
}
