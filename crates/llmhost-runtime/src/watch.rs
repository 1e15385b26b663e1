//! Reloading the plugins directory when its files change. Where the kernel
//! can tell us (inotify on Linux), the watcher sleeps until a file in the
//! directory changes, waits for the changes to settle, and reloads: an idle
//! host does no work for it. Where it cannot, the directory is checked at
//! a fixed interval, as before.

use std::sync::Arc;
use std::time::Duration;

use super::Runtime;
use changes::Changes;

impl Runtime {
    /// Reloads `every` after the plugins directory last changed (or, without
    /// file notifications, checks it every `every`).
    pub fn watch(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        match Changes::watch(self.plugins_dir()) {
            Ok(changes) => tokio::spawn(self.reload_on_change(changes, every)),
            Err(err) => {
                tracing::warn!(
                    dir = %self.plugins_dir().display(),
                    "no file notifications for the plugins directory ({err}); checking it every {every:?}"
                );
                tokio::spawn(self.reload_every(every))
            }
        }
    }

    async fn reload_on_change(self: Arc<Self>, mut changes: Changes, settle: Duration) {
        loop {
            if let Err(err) = changes.next().await {
                tracing::warn!(
                    "file notifications for the plugins directory stopped ({err}); checking it every {settle:?}"
                );
                return self.reload_every(settle).await;
            }
            // A file is often written in several steps: wait until the
            // directory has been quiet for `settle`.
            while let Ok(Ok(())) = tokio::time::timeout(settle, changes.next()).await {}
            self.reload_and_log().await;
        }
    }

    async fn reload_every(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            self.reload_and_log().await;
        }
    }

    async fn reload_and_log(&self) {
        match self.reload().await {
            Ok(report) if !report.loaded.is_empty() || !report.removed.is_empty() => {
                tracing::info!(loaded = ?report.loaded, removed = ?report.removed, "plugins reloaded");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!("watching the plugins directory: {err:#}"),
        }
    }
}

/// File notifications for `dir` (Linux: inotify, read through tokio's
/// reactor, so no thread waits on them): resolves each time something in
/// the directory was written, created, moved or removed. Reads (the host's
/// own, when it loads a plugin) are not changes.
#[cfg(target_os = "linux")]
mod changes {
    use std::path::Path;

    use inotify::{Inotify, WatchMask};

    use crate::notifications::Notifications;

    pub(super) struct Changes(Notifications);

    impl Changes {
        pub(super) fn watch(dir: &Path) -> std::io::Result<Self> {
            let inotify = Inotify::init()?;
            let mask = WatchMask::CLOSE_WRITE
                | WatchMask::CREATE
                | WatchMask::MODIFY
                | WatchMask::ATTRIB
                | WatchMask::MOVE
                | WatchMask::DELETE
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF
                | WatchMask::ONLYDIR;
            inotify.watches().add(dir, mask)?;
            Ok(Self(Notifications::new(inotify)?))
        }

        /// Waits for the next change; an error ends the watch.
        pub(super) async fn next(&mut self) -> std::io::Result<()> {
            self.0.next(|_| true).await
        }
    }
}

/// Without inotify there are no notifications: the caller polls.
#[cfg(not(target_os = "linux"))]
mod changes {
    use std::path::Path;

    pub(super) enum Changes {}

    impl Changes {
        pub(super) fn watch(_dir: &Path) -> std::io::Result<Self> {
            Err(std::io::Error::other(
                "no file notifications on this system",
            ))
        }

        pub(super) async fn next(&mut self) -> std::io::Result<()> {
            match *self {}
        }
    }
}
