//! The model listing as `bedrock-chat models` and `/models` show it.

use std::io::Write;
use std::process::ExitCode;

use bedrock_chat::ModelListing;

use crate::status::{EXIT_TURN_FAILED, describe, print_error};

/// `bedrock-chat models`: the listing on stdout (a table, or JSON), the current model marked.
///
/// # Errors
///
/// Standard output could not be written.
pub(crate) async fn run(
    client: &bedrock_chat::BedrockClient,
    json: bool,
    current: &str,
) -> anyhow::Result<ExitCode> {
    let listing = match client.model_catalog().await.list().await {
        Ok(listing) => listing,
        Err(error) => {
            print_error(&describe(&error));
            return Ok(ExitCode::from(EXIT_TURN_FAILED));
        }
    };
    let mut out = std::io::stdout().lock();
    if json {
        // Written as text, so a reader that goes away is an I/O error (exit 141), not JSON's.
        writeln!(out, "{}", serde_json::to_string_pretty(&listing)?)?;
    } else {
        write!(out, "{}", table(&listing, Some(current)))?;
        writeln!(
            out,
            "
* the model in use (--model); price: US dollars per million input/output tokens"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The listing as a table: id, name, price, and what to know (profile only, legacy); the
/// current model marked with `*`.
pub(crate) fn table(listing: &ModelListing, current: Option<&str>) -> String {
    let width = listing
        .models
        .iter()
        .map(|m| m.id.chars().count())
        .max()
        .unwrap_or(0)
        .min(72);
    let mut text = String::new();
    let mut kind = "";
    for model in &listing.models {
        let heading = match model.kind.as_str() {
            "model" => "Foundation models (by their own id):",
            "application" => "Application inference profiles:",
            _ => "Inference profiles (cross-region; use these ids for newer models):",
        };
        if heading != kind {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(heading);
            text.push('\n');
            kind = heading;
        }
        let mark = if current == Some(model.id.as_str()) {
            '*'
        } else {
            ' '
        };
        let mut notes = Vec::new();
        if let Some(price) = model.price_label() {
            notes.push(price);
        }
        if !model.on_demand {
            notes.push("profile only: call it through a profile above".to_string());
        }
        if model.legacy {
            notes.push("legacy".to_string());
        }
        text.push_str(&format!(
            "{mark} {:width$}  {}{}\n",
            model.id,
            model.name,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            }
        ));
    }
    if text.is_empty() {
        text.push_str("no chat models are listed for this region\n");
    }
    text
}
