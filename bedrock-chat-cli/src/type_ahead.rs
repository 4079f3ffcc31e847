//! Keys typed while a reply streams. The terminal echoes what is typed where the cursor is, which
//! during a reply is the middle of the reply: typed-ahead text then reads as part of what the
//! model wrote. Echo is off while a reply is written; what was typed waits in the terminal's
//! input for the next prompt, where the line editor reads and shows it.

/// Turns the terminal's echo off until dropped; does nothing when standard input is not a
/// terminal.
pub struct NoEcho {
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
}

impl NoEcho {
    /// Turns echo off, remembering the settings to restore.
    pub fn start() -> Self {
        #[cfg(unix)]
        {
            use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
            let Ok(saved) = tcgetattr(std::io::stdin()) else {
                return NoEcho { saved: None };
            };
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            // `Now`, not `Flush`: what was already typed stays to be read at the prompt.
            if tcsetattr(std::io::stdin(), OptionalActions::Now, &quiet).is_err() {
                return NoEcho { saved: None };
            }
            NoEcho { saved: Some(saved) }
        }
        #[cfg(not(unix))]
        {
            NoEcho {}
        }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
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

/// Turns the terminal's echo on until dropped (for a question asked during a reply, whose
/// answer the person must see), then puts back what was there.
pub struct Echo {
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
}

impl Echo {
    /// Turns echo on, remembering the settings to restore.
    pub fn on() -> Self {
        #[cfg(unix)]
        {
            use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
            let Ok(saved) = tcgetattr(std::io::stdin()) else {
                return Echo { saved: None };
            };
            let mut echoing = saved.clone();
            echoing.local_modes.insert(LocalModes::ECHO);
            if tcsetattr(std::io::stdin(), OptionalActions::Now, &echoing).is_err() {
                return Echo { saved: None };
            }
            Echo { saved: Some(saved) }
        }
        #[cfg(not(unix))]
        {
            Echo {}
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
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
