//! File notifications from the kernel (inotify, Linux), read through
//! tokio's reactor so that no thread waits on them: the one place that
//! registers an inotify descriptor with tokio and drains it. The plugins
//! directory watch (`watch`) and the host's configuration file watch use it,
//! each with its own watches and its own idea of which events matter.

use std::ffi::OsStr;

use inotify::{Event, Inotify, Watches};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// An inotify instance whose events are awaited, not polled.
pub struct Notifications {
    fd: AsyncFd<Inotify>,
    buffer: Vec<u8>,
}

impl Notifications {
    pub fn new(inotify: Inotify) -> std::io::Result<Self> {
        // SAFETY: `Inotify` owns its descriptor, keeps it open until it
        // is dropped (with the `AsyncFd`), and always returns that one.
        let fd = unsafe { AsyncFd::register_with_interest(inotify, Interest::READABLE) }?;
        Ok(Self {
            fd,
            buffer: vec![0; 4096],
        })
    }

    /// Adds or changes what is watched.
    pub fn watches(&self) -> Watches {
        self.fd.get_ref().watches()
    }

    /// Waits until the kernel reported an event that `matters`; an error
    /// ends the watch. Every queued event is drained each time: one signal
    /// however many came together.
    pub async fn next(
        &mut self,
        mut matters: impl FnMut(&Event<&OsStr>) -> bool,
    ) -> std::io::Result<()> {
        loop {
            let mut ready = self.fd.readable_mut().await?;
            let mut changed = false;
            loop {
                match ready.get_inner_mut().read_events(&mut self.buffer) {
                    Ok(events) => {
                        for event in events {
                            changed |= matters(&event);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        ready.clear_ready();
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if changed {
                return Ok(());
            }
        }
    }
}
