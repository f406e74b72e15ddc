//! Ctrl-C for a whole run: one handle, set once, that the executor, the transports and
//! long waits (`pause`, retry delays) all watch.
//!
//! On the first Ctrl-C rplay starts no new task, stops the commands that are running on
//! the hosts (so a remote `sleep 600` ends and a file being written is removed, not left
//! half-written), and prints the recap.

use std::sync::Arc;
use tokio::sync::watch;

/// A cloneable handle to one run's interruption.
#[derive(Debug, Clone)]
pub struct Interrupt {
    state: Arc<watch::Sender<bool>>,
}

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt {
            state: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Interrupts the run; every waiter wakes.
    pub fn trigger(&self) {
        self.state.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.state.borrow()
    }

    /// Completes once the run is interrupted (at once if it already is).
    pub async fn triggered(&self) {
        let mut watcher = self.state.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = watcher.wait_for(|interrupted| *interrupted).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_when_triggered_and_late_ones_return_at_once() {
        let interrupt = Interrupt::new();
        assert!(!interrupt.is_triggered());
        let waiter = {
            let interrupt = interrupt.clone();
            tokio::spawn(async move { interrupt.triggered().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        interrupt.trigger();
        waiter.await.unwrap();
        assert!(interrupt.is_triggered());
        interrupt.triggered().await;
    }
}
