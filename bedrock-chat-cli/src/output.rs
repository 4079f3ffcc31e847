//! Is anyone still reading standard output?
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has gone fails with `BrokenPipe`, but
//! only when something is written: in `bedrock-chat < questions | head -1`, the second question
//! would be sent to Bedrock (and paid for) before its reply found the pipe closed. And writes to
//! a closed descriptor (`>&-`) are silently discarded by Rust's `stdout`. Both are checked here.

/// Standard output was not open when the program started (`bedrock-chat -p hi >&-`): every
/// reply would be lost.
///
/// Rust's start-up code opens `/dev/null` (read-write) on a standard descriptor that is closed,
/// so the descriptor is open by the time `main` runs; a shell's `>/dev/null` opens it write-only.
/// A read-write `/dev/null` on stdout therefore means it was closed.
pub fn stdout_is_closed() -> bool {
    #[cfg(unix)]
    {
        use rustix::fs::{FileType, OFlags, fcntl_getfl, fstat};
        let stdout = std::io::stdout();
        if rustix::io::fcntl_getfd(&stdout).is_err() {
            return true;
        }
        let Ok(stat) = fstat(&stdout) else {
            return false;
        };
        let is_dev_null = FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice
            && rustix::fs::major(stat.st_rdev) == 1
            && rustix::fs::minor(stat.st_rdev) == 3;
        is_dev_null
            && fcntl_getfl(&stdout).is_ok_and(|flags| flags & OFlags::RWMODE == OFlags::RDWR)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Standard output is closed, or is a pipe or socket whose reader has gone.
pub fn stdout_is_unread() -> bool {
    if stdout_is_closed() {
        return true;
    }
    #[cfg(unix)]
    {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let stdout = std::io::stdout();
        let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // POLLERR on a pipe's writing end means its reading end is closed; POLLHUP, a socket
        // whose peer has gone.
        matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0)
            && fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP)
    }
    #[cfg(not(unix))]
    {
        false
    }
}
