//! Where lines come from: a line editor on a terminal, or standard input in a pipe.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Behavior, Config, Editor};

/// One read from the user.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A line (without its line ending).
    Line(String),
    /// Ctrl-C at the prompt.
    Interrupted,
    /// End of input (Ctrl-D, or the end of a pipe).
    Eof,
    /// A line that could not be read as text; the message says why.
    Invalid(String),
}

/// The prompt for a new entry.
pub const PROMPT: &str = "you> ";
/// The prompt for the next line of an entry.
pub const CONTINUATION: &str = "...> ";

/// Reads one entry at the prompt: a line or, with `multi_line` (a person at a terminal), a line
/// continued with `\` or a block between two `"""` lines.
///
/// # Errors
///
/// The input's I/O error.
pub fn read_entry(input: &mut dyn LineReader, multi_line: bool) -> io::Result<Input> {
    let first = match input.read_line(PROMPT)? {
        Input::Line(line) => line,
        other => return Ok(other),
    };
    if !multi_line {
        return Ok(Input::Line(first));
    }
    if first.trim() == "\"\"\"" {
        let mut lines = Vec::new();
        loop {
            match input.read_line(CONTINUATION)? {
                Input::Line(line) if line.trim() == "\"\"\"" => break,
                Input::Line(line) => lines.push(line),
                Input::Eof => break,
                other => return Ok(other),
            }
        }
        return Ok(Input::Line(lines.join("\n")));
    }
    let mut entry = first;
    while entry.ends_with('\\') {
        entry.pop();
        entry.push('\n');
        match input.read_line(CONTINUATION)? {
            Input::Line(line) => entry.push_str(&line),
            Input::Eof => break,
            other => return Ok(other),
        }
    }
    Ok(Input::Line(entry))
}

/// A source of lines: the REPL reads through this so it can be driven without a terminal.
pub trait LineReader: Send {
    /// Shows `prompt` (when there is a terminal) and reads one line.
    ///
    /// # Errors
    ///
    /// An I/O error of the terminal or the pipe (not an invalid line: that is [`Input::Invalid`]).
    fn read_line(&mut self, prompt: &str) -> io::Result<Input>;

    /// Records a complete entry (possibly several lines) in the input history. A history that
    /// cannot be written is a warning (see [`take_warnings`](Self::take_warnings)), never the
    /// end of the session. Default: nothing.
    fn remember(&mut self, _entry: &str) {}

    /// Warnings for the user since the last call, such as a history file that cannot be used.
    /// Default: none.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// The longest line read from a pipe: one message's worth of text plus room for its line
/// ending. A longer line is skipped while it is read, never held in memory whole.
pub const MAX_LINE_BYTES: usize = bedrock_chat::MAX_MESSAGE_BYTES + 2;

/// Lines from a pipe or file: no prompt, no editing, no history.
pub struct PipeReader<R> {
    reader: R,
    line_number: usize,
    max_line: usize,
    /// The rest of an over-long line is still to be skipped.
    skipping: bool,
}

impl<R: BufRead + Send> PipeReader<R> {
    /// Reads lines from `reader`, each at most [`MAX_LINE_BYTES`].
    pub fn new(reader: R) -> Self {
        Self::with_max_line(reader, MAX_LINE_BYTES)
    }

    /// Reads lines of at most `max_line` bytes; longer ones are skipped and reported.
    pub fn with_max_line(reader: R, max_line: usize) -> Self {
        PipeReader {
            reader,
            line_number: 0,
            max_line,
            skipping: false,
        }
    }

    /// Reads up to the next line feed into `bytes`, stopping as soon as the line is longer than
    /// `max_line` (the rest is skipped by the next call). Returns whether anything was read, and
    /// whether the line was too long.
    fn read_bounded(&mut self, bytes: &mut Vec<u8>) -> io::Result<(bool, bool)> {
        let mut read_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.skipping = false;
                return Ok((read_any, false));
            }
            let (chunk, found_end) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (&available[..=end], true),
                None => (available, false),
            };
            let used = chunk.len();
            if self.skipping {
                self.reader.consume(used);
                self.skipping = !found_end;
                continue;
            }
            read_any = true;
            if bytes.len() + used > self.max_line {
                // Said at once, not after the line's end, which may never come.
                bytes.clear();
                self.reader.consume(used);
                self.skipping = !found_end;
                return Ok((true, true));
            }
            bytes.extend_from_slice(chunk);
            self.reader.consume(used);
            if found_end {
                return Ok((true, false));
            }
        }
    }
}

impl<R: BufRead + Send> LineReader for PipeReader<R> {
    fn read_line(&mut self, _prompt: &str) -> io::Result<Input> {
        let mut bytes = Vec::new();
        let (read_any, too_long) = self.read_bounded(&mut bytes)?;
        if !read_any {
            return Ok(Input::Eof);
        }
        self.line_number += 1;
        if too_long {
            return Ok(Input::Invalid(format!(
                "line {} of standard input is longer than {} bytes, more than a message may carry; it was skipped and nothing was sent",
                self.line_number,
                bedrock_chat::MAX_MESSAGE_BYTES
            )));
        }
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        match String::from_utf8(bytes) {
            Ok(line) => Ok(Input::Line(line)),
            Err(_) => Ok(Input::Invalid(format!(
                "line {} of standard input is not valid UTF-8 text; nothing was sent",
                self.line_number
            ))),
        }
    }
}

/// Lines from a terminal through rustyline, with an input history kept in a file.
pub struct EditorReader {
    editor: Editor<(), FileHistory>,
    history: Option<PathBuf>,
    warnings: Vec<String>,
}

/// The most entries kept in the history file.
const MAX_HISTORY: usize = 1000;

impl EditorReader {
    /// A line editor whose history is kept in `history_path`, if given and if it is a history
    /// file (or does not exist yet). A path that holds anything else is never written: the
    /// editor then runs without a history file and says so in [`LineReader::take_warnings`].
    ///
    /// # Errors
    ///
    /// When the line editor cannot be set up (no terminal to read from). A history file that cannot
    /// be used is a warning, not an error.
    pub fn new(history_path: Option<PathBuf>) -> anyhow::Result<Self> {
        let config = Config::builder()
            .max_history_size(MAX_HISTORY)?
            .history_ignore_dups(true)?
            .auto_add_history(false)
            // Prompts and editing go to the terminal itself, so `bedrock-chat > log` records
            // replies only, not escape codes.
            .behavior(Behavior::PreferTerm)
            .build();
        let editor = Editor::with_history(config, FileHistory::with_config(&Config::default()))?;
        let mut reader = EditorReader {
            editor,
            history: None,
            warnings: Vec::new(),
        };
        if let Some(path) = history_path {
            reader.open_history(path);
        }
        Ok(reader)
    }

    fn open_history(&mut self, path: PathBuf) {
        match history_file_kind(&path) {
            Ok(HistoryKind::Missing) => self.history = Some(path),
            Ok(HistoryKind::Ours) => match self.editor.load_history(&path) {
                Ok(()) => self.history = Some(path),
                Err(error) => self.refuse_history(&path, &format!("cannot be read ({error})")),
            },
            Ok(HistoryKind::Legacy(entries)) => {
                for entry in &entries {
                    let _ = self.editor.add_history_entry(entry.as_str());
                }
                // The file is one this program wrote in its earlier format: rewrite it in the
                // current one, which can be appended to.
                match self.editor.save_history(&path) {
                    Ok(()) => self.history = Some(path),
                    Err(error) => {
                        self.refuse_history(&path, &format!("cannot be written ({error})"));
                    }
                }
            }
            Err(reason) => self.refuse_history(&path, &reason),
        }
    }

    fn refuse_history(&mut self, path: &Path, reason: &str) {
        self.history = None;
        self.warnings.push(format!(
            "input history is off for this session: {} {reason}; nothing was written to it (choose another file with --history-file)",
            path.display()
        ));
    }
}

/// What a history path holds.
#[derive(Debug, PartialEq, Eq)]
pub enum HistoryKind {
    /// Nothing yet.
    Missing,
    /// A history file in rustyline's format (it starts with `#V2`), or an empty file.
    Ours,
    /// A history file in this program's earlier format (one JSON string per line).
    Legacy(Vec<String>),
}

/// Looks at `path` without changing it: a history file that may be appended to, or the reason
/// it must be left alone. Only a regular file that is empty or a history file qualifies, so a
/// mistaken setting (`~/.bashrc`, `/dev/sda`) can never be truncated, rewritten or appended to.
///
/// # Errors
///
/// Why the path must be left alone: not a regular file, not a history, or unreadable.
pub fn history_file_kind(path: &Path) -> Result<HistoryKind, String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HistoryKind::Missing),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    if !metadata.is_file() {
        return Err("is not a regular file".to_string());
    }
    if metadata.len() == 0 {
        return Ok(HistoryKind::Ours);
    }
    // A history of 1000 entries of 1 MiB would be larger, but nobody types that; a file this
    // size is something else.
    const LARGEST: u64 = 64 * 1024 * 1024;
    if metadata.len() > LARGEST {
        return Err("is too large to be an input history".to_string());
    }
    let text = std::fs::read(path).map_err(|e| format!("cannot be read ({e})"))?;
    if text.starts_with(b"#V2\n") || text == b"#V2" {
        return Ok(HistoryKind::Ours);
    }
    let not_ours = || "is not a bedrock-chat input history".to_string();
    let text = String::from_utf8(text).map_err(|_| not_ours())?;
    let entries: Option<Vec<String>> = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_str::<String>(line).ok())
        .collect();
    match entries {
        Some(entries) if !entries.is_empty() => Ok(HistoryKind::Legacy(entries)),
        _ => Err(not_ours()),
    }
}

impl LineReader for EditorReader {
    fn read_line(&mut self, prompt: &str) -> io::Result<Input> {
        match self.editor.readline(prompt) {
            Ok(line) => Ok(Input::Line(line)),
            Err(ReadlineError::Interrupted) => Ok(Input::Interrupted),
            Err(ReadlineError::Eof) => Ok(Input::Eof),
            Err(ReadlineError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => Ok(
                Input::Invalid("the input is not valid UTF-8 text; nothing was sent".to_string()),
            ),
            Err(ReadlineError::Io(e)) => Err(e),
            Err(other) => Err(io::Error::other(other.to_string())),
        }
    }

    fn remember(&mut self, entry: &str) {
        let _ = self.editor.add_history_entry(entry);
        let Some(path) = self.history.clone() else {
            return;
        };
        // Looked at again before every write: the file may have been replaced meanwhile.
        let result = match history_file_kind(&path) {
            Ok(HistoryKind::Missing) => match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot be created ({e})"))
                    .and_then(|()| self.append(&path)),
                _ => self.append(&path),
            },
            Ok(HistoryKind::Ours) => self.append(&path),
            Ok(HistoryKind::Legacy(_)) => Err("changed format while in use".to_string()),
            Err(reason) => Err(reason),
        };
        if let Err(reason) = result {
            self.refuse_history(&path, &reason);
        }
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

impl EditorReader {
    /// Adds a warning to show before the next prompt.
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Appends the new entry: rustyline locks the file and adds only what is new, so two REPLs
    /// sharing one history keep each other's entries.
    fn append(&mut self, path: &Path) -> Result<(), String> {
        self.editor
            .append_history(path)
            .map_err(|e| format!("cannot be written ({e})"))
    }
}

/// Where the history lives unless told otherwise: `bedrock-chat/history` in the user's data
/// directory (`~/.local/share` on Linux).
pub fn default_history_path() -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join("bedrock-chat").join("history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_lines_are_read_and_bad_bytes_reported() {
        let mut reader = PipeReader::new(&b"one\r\n\xff\xfe\nlast"[..]);
        assert_eq!(reader.read_line("").unwrap(), Input::Line("one".into()));
        assert!(matches!(reader.read_line("").unwrap(), Input::Invalid(m) if m.contains("line 2")));
        assert_eq!(reader.read_line("").unwrap(), Input::Line("last".into()));
        assert_eq!(reader.read_line("").unwrap(), Input::Eof);
    }

    #[test]
    fn long_pipe_lines_are_skipped_without_being_held() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(b"\nafter\n");
        // A tiny buffer, so the long line arrives in many pieces.
        let mut reader =
            PipeReader::with_max_line(io::BufReader::with_capacity(16, &input[..]), 100);
        assert_eq!(reader.read_line("").unwrap(), Input::Line("short".into()));
        assert!(
            matches!(reader.read_line("").unwrap(), Input::Invalid(m) if m.contains("line 2") && m.contains("skipped"))
        );
        assert_eq!(reader.read_line("").unwrap(), Input::Line("after".into()));
        assert_eq!(reader.read_line("").unwrap(), Input::Eof);
    }

    #[test]
    fn only_history_files_qualify_as_history() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("history");
        assert_eq!(history_file_kind(&missing), Ok(HistoryKind::Missing));
        let bashrc = dir.path().join(".bashrc");
        std::fs::write(&bashrc, "export PATH=$HOME/bin:$PATH\nalias ll='ls -l'\n").unwrap();
        assert!(
            history_file_kind(&bashrc)
                .unwrap_err()
                .contains("not a bedrock-chat")
        );
        assert!(
            history_file_kind(dir.path())
                .unwrap_err()
                .contains("not a regular file")
        );
        #[cfg(unix)]
        assert!(
            history_file_kind(Path::new("/dev/null"))
                .unwrap_err()
                .contains("not a regular file")
        );
        let ours = dir.path().join("ours");
        std::fs::write(&ours, "#V2\nhello\n").unwrap();
        assert_eq!(history_file_kind(&ours), Ok(HistoryKind::Ours));
        let legacy = dir.path().join("legacy");
        std::fs::write(&legacy, "\"first\"\n\"two\\nlines\"\n").unwrap();
        assert_eq!(
            history_file_kind(&legacy),
            Ok(HistoryKind::Legacy(vec![
                "first".into(),
                "two\nlines".into()
            ]))
        );
    }
}
