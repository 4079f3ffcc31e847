//! Where lines come from: a line editor on a terminal, or standard input in a pipe.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

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

/// A source of lines: the REPL reads through this so it can be driven without a terminal.
pub trait LineReader: Send {
    /// Shows `prompt` (when there is a terminal) and reads one line.
    fn read_line(&mut self, prompt: &str) -> io::Result<Input>;

    /// Records a complete entry (possibly several lines) in the input history. Default: nothing.
    fn remember(&mut self, _entry: &str) -> io::Result<()> {
        Ok(())
    }
}

/// Lines from a pipe or file: no prompt, no editing, no history.
pub struct PipeReader<R> {
    reader: R,
    line_number: usize,
}

impl<R: BufRead + Send> PipeReader<R> {
    /// Reads lines from `reader`.
    pub fn new(reader: R) -> Self {
        PipeReader {
            reader,
            line_number: 0,
        }
    }
}

impl<R: BufRead + Send> LineReader for PipeReader<R> {
    fn read_line(&mut self, _prompt: &str) -> io::Result<Input> {
        let mut bytes = Vec::new();
        if self.reader.read_until(b'\n', &mut bytes)? == 0 {
            return Ok(Input::Eof);
        }
        self.line_number += 1;
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

/// Lines from a terminal through rustyline, with an input history saved as each entry is made.
pub struct EditorReader {
    editor: DefaultEditor,
    history: Option<HistoryFile>,
}

impl EditorReader {
    /// A line editor whose history is kept in `history_path`, if given.
    pub fn new(history_path: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut editor = DefaultEditor::new()?;
        let history = history_path.map(HistoryFile::load);
        if let Some(history) = &history {
            for entry in history.entries() {
                let _ = editor.add_history_entry(entry.as_str());
            }
        }
        Ok(EditorReader { editor, history })
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

    fn remember(&mut self, entry: &str) -> io::Result<()> {
        let _ = self.editor.add_history_entry(entry);
        match &mut self.history {
            Some(history) => history.push(entry),
            None => Ok(()),
        }
    }
}

/// The REPL's input history on disk: one JSON string per line (so entries may span lines),
/// rewritten atomically after every entry so that a crash loses nothing and never leaves a
/// half-written file.
pub struct HistoryFile {
    path: PathBuf,
    entries: Vec<String>,
}

/// The most entries kept.
const MAX_HISTORY: usize = 1000;

impl HistoryFile {
    /// Reads the history at `path`; a missing or unreadable file starts an empty history, and
    /// lines that are not entries are skipped.
    pub fn load(path: PathBuf) -> Self {
        let entries = std::fs::read_to_string(&path)
            .map(|text| {
                text.lines()
                    .filter_map(|line| serde_json::from_str::<String>(line).ok())
                    .collect()
            })
            .unwrap_or_default();
        HistoryFile { path, entries }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds an entry and writes the file.
    pub fn push(&mut self, entry: &str) -> io::Result<()> {
        if self.entries.last().map(String::as_str) == Some(entry) {
            return Ok(());
        }
        self.entries.push(entry.to_string());
        if self.entries.len() > MAX_HISTORY {
            let excess = self.entries.len() - MAX_HISTORY;
            self.entries.drain(..excess);
        }
        self.write()
    }

    fn write(&self) -> io::Result<()> {
        use std::io::Write;
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        let mut text = String::new();
        for entry in &self.entries {
            text.push_str(&serde_json::to_string(entry).map_err(io::Error::other)?);
            text.push('\n');
        }
        // Created with mode 0600; renamed over the old file only once fully written.
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(text.as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
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
    fn history_survives_a_restart_with_multi_line_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("history");
        let mut history = HistoryFile::load(path.clone());
        history.push("first").unwrap();
        history.push("two\nlines").unwrap();
        history.push("two\nlines").unwrap();
        let reloaded = HistoryFile::load(path.clone());
        assert_eq!(reloaded.entries(), ["first", "two\nlines"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
