//! A saved conversation as Markdown: what a person reads, prints or pastes elsewhere.

use std::fmt::Write;

use super::SavedConversation;
use crate::message::{ContentBlock, Role};
use crate::store::title_of;

/// Tool inputs and results longer than this are shortened: the export is for reading, and the
/// JSON export keeps everything.
const LONGEST_TOOL_TEXT: usize = 2_000;

impl SavedConversation {
    /// The conversation as Markdown: its title, the model, the system prompt, then each message
    /// under `## You` or `## Assistant`, with attachments named (`*Attached: report.pdf (pdf,
    /// 120 KB)*`), tool calls and results in short, and reasoning left out. Meant for people;
    /// [`to_json`](Self::to_json) is the form that can be loaded again.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", one_line(&title_of(self)));
        let _ = writeln!(out, "*Model: `{}`*\n", self.model_id());
        if let Some(prompt) = self.system_prompt() {
            let _ = writeln!(out, "**System prompt:**\n");
            for line in prompt.lines() {
                let _ = writeln!(out, "> {line}");
            }
            out.push('\n');
        }
        for message in self.messages() {
            let heading = match (message.role(), message.is_tool_results()) {
                (Role::User, false) => "## You",
                (Role::User, true) => "## Tool results",
                (Role::Assistant, _) => "## Assistant",
            };
            let _ = writeln!(out, "{heading}\n");
            for block in message.content() {
                match block {
                    ContentBlock::Text(text) if !text.trim().is_empty() => {
                        let _ = writeln!(out, "{}\n", text.trim_end());
                    }
                    ContentBlock::Attachment(attachment) => {
                        let _ = writeln!(out, "*Attached: {}*\n", attachment.describe());
                    }
                    ContentBlock::ToolUse(call) => {
                        let input = shorten(call.input.to_string());
                        let _ =
                            writeln!(out, "*Called `{}`:*\n\n```json\n{input}\n```\n", call.name);
                    }
                    ContentBlock::ToolResult(result) => {
                        let what = if result.is_error() {
                            "failed"
                        } else {
                            "answered"
                        };
                        let text = shorten(result.text());
                        let _ = writeln!(out, "*The tool {what}:*\n\n```\n{text}\n```\n");
                    }
                    // Reasoning is the model's scratch work, not the conversation.
                    _ => {}
                }
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    }
}

fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

/// At most [`LONGEST_TOOL_TEXT`] characters, and never a line of three backticks that would
/// close the fence early.
fn shorten(text: String) -> String {
    let text = text.replace("```", "`\u{200b}``");
    if text.chars().count() <= LONGEST_TOOL_TEXT {
        return text;
    }
    let mut short: String = text.chars().take(LONGEST_TOOL_TEXT).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use crate::message::{ContentBlock, Message, Role, ToolResult, ToolUse};
    use crate::{Attachment, InferenceConfig, SavedConversation, TokenUsage, ToolResultContent};

    #[test]
    fn a_conversation_reads_as_markdown() {
        let png = crate::attachment::tests::PIXEL_PNG.to_vec();
        let messages = vec![
            Message::user_with_attachments("What is this?", vec![Attachment::image(png).unwrap()]),
            Message::new(
                Role::Assistant,
                vec![ContentBlock::ToolUse(ToolUse::new(
                    "t1",
                    "look",
                    serde_json::json!({"q": "```"}),
                ))],
            ),
            Message::new(
                Role::User,
                vec![ContentBlock::ToolResult(ToolResult::success(
                    "t1",
                    ToolResultContent::Text("a pixel".into()),
                ))],
            ),
            Message::assistant("A single pixel."),
        ];
        let saved = SavedConversation::new(
            Some("Pixels".into()),
            "m".into(),
            Some("Be brief.\nBe kind.".into()),
            InferenceConfig::new(),
            messages,
            TokenUsage::default(),
        );
        let markdown = saved.to_markdown();
        assert!(markdown.starts_with("# Pixels\n"), "{markdown}");
        assert!(markdown.contains("> Be brief.\n> Be kind."), "{markdown}");
        assert!(
            markdown.contains("## You\n\n*Attached: image (png, 1×1, 1 kb)*\n\nWhat is this?"),
            "{markdown}"
        );
        assert!(markdown.contains("*Called `look`:*"), "{markdown}");
        assert!(
            !markdown.contains("\"```\""),
            "a fence in a tool input: {markdown}"
        );
        assert!(
            markdown.contains("## Tool results\n\n*The tool answered:*\n\n```\na pixel\n```"),
            "{markdown}"
        );
        assert!(
            markdown.ends_with("## Assistant\n\nA single pixel.\n"),
            "{markdown}"
        );
    }
}
