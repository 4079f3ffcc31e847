//! Where Ctrl-C comes from: the operating system at a terminal, nowhere in a pipe, a script in
//! tests.

use std::future::Future;
use std::pin::Pin;

/// Where Ctrl-C comes from while a reply is being received.
pub trait Interrupts: Send {
    /// Resolves at the next Ctrl-C.
    fn next(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Ctrl-C from the operating system.
pub struct CtrlC;

impl Interrupts for CtrlC {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling on this platform: never interrupt.
                std::future::pending::<()>().await;
            }
        })
    }
}

/// No Ctrl-C handling: in a pipe, Ctrl-C ends the program as usual.
pub struct NoInterrupts;

impl Interrupts for NoInterrupts {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}
