//! What a `.env` file in the working directory may set.
//!
//! A `.env` comes with whatever folder the REPL is started in, such as a freshly cloned
//! repository, so it is trusted less than the user's own environment and flags. It is read by
//! the library's rule ([`ChatConfig::from_env`]: under the environment, credentials only when the
//! environment has none), never loaded into the process environment, and:
//!
//! - it may set the chat settings (`BEDROCK_MODEL_ID`, `BEDROCK_SYSTEM_PROMPT`, ...), the region
//!   and the profile;
//! - it may not choose where files are written: `BEDROCK_CHAT_HISTORY_FILE` in `.env` is ignored,
//!   with a warning (a `.env` naming `~/.bashrc` must not get it rewritten);
//! - it may set the endpoint URL (local test servers use it), but never silently: the REPL says
//!   at start that requests, signed with the user's credentials, go to that address.

use std::path::Path;

use bedrock_chat::ChatConfig;

/// The variable that names the history file: from the environment or a flag only.
pub const HISTORY_FILE_VARIABLE: &str = "BEDROCK_CHAT_HISTORY_FILE";

/// The variables that choose the Bedrock endpoint.
pub const ENDPOINT_VARIABLES: [&str; 2] = ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"];

/// What to tell the user about the `.env` at `path`, given the configuration read from it and
/// whether the endpoint was given as a flag.
pub fn notices(path: &Path, config: &ChatConfig, endpoint_flag: bool) -> Vec<String> {
    let mut notices = Vec::new();
    let sets_history = dotenvy::from_path_iter(path)
        .map(|items| {
            items
                .flatten()
                .any(|(key, value)| key == HISTORY_FILE_VARIABLE && !value.is_empty())
        })
        .unwrap_or(false);
    if sets_history {
        notices.push(format!(
            "warning: ignoring {HISTORY_FILE_VARIABLE} from .env: a .env file may not choose where files are written; set it in your environment or use --history-file"
        ));
    }
    if !endpoint_flag
        && let Some(name) = ENDPOINT_VARIABLES
            .iter()
            .find(|name| config.is_from_dotenv(name))
        && let Some(url) = &config.connection.endpoint_url
    {
        notices.push(format!(
            "note: .env sets {name}: requests, signed with your AWS credentials, go to {url}"
        ));
    }
    notices
}
