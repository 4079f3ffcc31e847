//! Keys typed while a reply streams. The terminal echoes what is typed where the cursor is, which
//! during a reply is the middle of the reply: typed-ahead text then reads as part of what the
//! model wrote. Echo is off while a reply is written; what was typed waits in the terminal's
//! input for the next prompt, where the line editor reads and shows it. A question asked during
//! a reply (may this tool run?) turns it on again for its answer.

/// The terminal's echo set one way until dropped, then put back as it was; nothing when
/// standard input is not a terminal.
pub struct Echo {
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
}

impl Echo {
    /// Echo off (while a reply is written).
    pub fn off() -> Self {
        Self::set(false)
    }

    /// Echo on (while a question is answered).
    pub fn on() -> Self {
        Self::set(true)
    }

    fn set(on: bool) -> Self {
        #[cfg(unix)]
        {
            use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
            let Ok(saved) = tcgetattr(std::io::stdin()) else {
                return Echo { saved: None };
            };
            let mut changed = saved.clone();
            changed.local_modes.set(LocalModes::ECHO, on);
            // `Now`, not `Flush`: what was already typed stays to be read at the prompt.
            if tcsetattr(std::io::stdin(), OptionalActions::Now, &changed).is_err() {
                return Echo { saved: None };
            }
            Echo { saved: Some(saved) }
        }
        #[cfg(not(unix))]
        {
            let _ = on;
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
