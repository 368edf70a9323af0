//! Driving the pool's loop as a task of a current-thread tokio runtime ([`super::Pool::start_local`]).

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use super::schedule::Loop;
use super::slots::Slot;
use crate::runtime::worker::WorkerProcess;

/// The loop of a pool of [`super::Pool::start_local`]: run it as a task of a current-thread tokio
/// runtime, the one the pool's front end runs on.
pub struct LocalDriver {
    pub(super) looped: Loop,
    pub(super) notify: Arc<tokio::sync::Notify>,
}

impl LocalDriver {
    /// Ends the loop's short polling for an answer or a request (see `SPIN` in schedule.rs) as soon as `fd` is
    /// readable: the runtime reads it (the front end's input), and its request is not to wait.
    #[must_use]
    pub fn interrupt_on(mut self, fd: OwnedFd) -> Self {
        self.looped.interrupt = Some(fd);
        self
    }

    /// Runs the pool until [`super::Pool::shutdown`] has been called and every request was answered.
    pub async fn run(mut self) {
        let _ = self.looped.shared.thread.set(std::thread::current().id());
        let mut sleeper = Sleeper::default();
        while let Some(wait) = self.looped.turn() {
            if !wait {
                continue;
            }
            if self.looped.wait(false) {
                // An answer reaches its caller's task before the loop goes on.
                tokio::task::yield_now().await;
                continue;
            }
            let sleep_for = self.looped.sleep_for();
            let channels = sleeper.over(&self.looped.slots.slots);
            tokio::select! {
                () = self.notify.notified() => {}
                () = channels.readable() => {}
                () = async {
                    match sleep_for {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
        self.looped.finish();
    }
}

/// The workers' answer channels, registered with the tokio runtime (epoll on Linux, kqueue
/// elsewhere) so that the driver can sleep until one is readable; remade when the workers change.
#[derive(Default)]
struct Sleeper {
    pids: Vec<u32>,
    channels: Vec<tokio::io::unix::AsyncFd<OwnedFd>>,
    /// Whether the last registration failed (the driver then polls every millisecond).
    failed: bool,
}

impl Sleeper {
    fn over(&mut self, slots: &[Slot]) -> &Self {
        let pids: Vec<u32> = slots
            .iter()
            .filter_map(|s| s.worker.as_ref().map(WorkerProcess::pid))
            .collect();
        if self.failed || pids != self.pids {
            let channels: std::io::Result<Vec<_>> = slots
                .iter()
                .filter_map(|s| s.worker.as_ref())
                .map(|worker| {
                    // A descriptor of the sleeper's own: the worker's closes with it.
                    let fd = worker.protocol_fd().try_clone_to_owned()?;
                    // SAFETY: an `OwnedFd` stays open, and names the same description, for as
                    // long as the `AsyncFd` owns it.
                    unsafe {
                        tokio::io::unix::AsyncFd::register_with_interest(
                            fd,
                            tokio::io::Interest::READABLE,
                        )
                    }
                    .map_err(std::io::Error::from)
                })
                .collect();
            match channels {
                Ok(channels) => {
                    self.channels = channels;
                    self.failed = false;
                }
                Err(e) => {
                    tracing::debug!("the pool polls instead of waiting: {e}");
                    self.channels.clear();
                    self.failed = true;
                }
            }
            self.pids = pids;
        }
        self
    }

    /// Until a channel is readable (clearing that readiness: the loop polls every channel next,
    /// and a later answer arrives as a new event).
    async fn readable(&self) {
        if self.failed {
            return tokio::time::sleep(Duration::from_millis(1)).await;
        }
        std::future::poll_fn(|cx| {
            for channel in &self.channels {
                match channel.poll_read_ready(cx) {
                    std::task::Poll::Ready(Ok(mut ready)) => {
                        ready.clear_ready();
                        return std::task::Poll::Ready(());
                    }
                    std::task::Poll::Ready(Err(_)) => return std::task::Poll::Ready(()),
                    std::task::Poll::Pending => {}
                }
            }
            std::task::Poll::Pending
        })
        .await;
    }
}
