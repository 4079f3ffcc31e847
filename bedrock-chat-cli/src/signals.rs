//! Signals that end the program: the terminal is put back as it was, and a save in progress
//! finishes first.
//!
//! The line editor puts the terminal in raw mode while it waits at the prompt. Killed there by
//! SIGTERM or SIGHUP (a script's `kill`, a closed `ssh` session), the process would leave the
//! terminal without echo or line editing for whatever runs next. Ctrl-C is not handled here: at
//! the prompt the editor reads it as a key, and during a turn the REPL uses it to stop the reply.

use std::sync::Mutex;

/// Held while something must not be cut short (writing a conversation file).
static CRITICAL: Mutex<()> = Mutex::new(());

/// Runs `f` so that a terminating signal waits until it has finished.
pub fn critical<T>(f: impl FnOnce() -> T) -> T {
    let _guard = CRITICAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f()
}

/// The terminal's settings when the program started, to put back on the way out.
pub struct TerminalState {
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
}

impl TerminalState {
    /// Records standard input's terminal settings, if it is a terminal.
    pub fn capture() -> Self {
        #[cfg(unix)]
        {
            TerminalState {
                saved: rustix::termios::tcgetattr(std::io::stdin()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            TerminalState {}
        }
    }

    /// Puts the recorded settings back.
    pub fn restore(&self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

/// Ends the process on SIGTERM, SIGHUP or SIGQUIT with the conventional status (128 + the
/// signal's number), after any save in progress and with the terminal restored.
pub fn exit_on_termination(terminal: TerminalState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            (SignalKind::terminate(), 15),
            (SignalKind::hangup(), 1),
            (SignalKind::quit(), 3),
        ];
        let terminal = std::sync::Arc::new(terminal);
        for (kind, number) in kinds {
            let Ok(mut stream) = signal(kind) else {
                continue;
            };
            let terminal = terminal.clone();
            tokio::spawn(async move {
                if stream.recv().await.is_some() {
                    // The lock may be held by a save on the main thread: wait on a thread
                    // that may block.
                    let _ = tokio::task::spawn_blocking(move || {
                        critical(|| {
                            terminal.restore();
                            std::process::exit(128 + number);
                        })
                    })
                    .await;
                }
            });
        }
    }
    #[cfg(not(unix))]
    drop(terminal);
}
