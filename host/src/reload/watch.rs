//! Watching the configuration file: a written file is reloaded (as at
//! SIGHUP) once it has been quiet for the settle time, a file that cannot
//! be used is refused in the log and what is in force keeps serving.
//! Linux tells us by inotify, so an idle host does no work for it;
//! elsewhere, or when notifications cannot be had, the file's size,
//! modification time and inode are compared every settle time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::Reconfigure;

/// Watches `file` until the process ends, reloading through `reconfigure`
/// `settle` after it was last changed.
pub(crate) fn spawn(
    file: PathBuf,
    reconfigure: Reconfigure,
    settle: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match changes::Changes::watch(&file) {
            Ok(changes) => on_change(&file, changes, &reconfigure, settle).await,
            Err(err) => {
                tracing::warn!(
                    file = %file.display(),
                    "no file notifications for the configuration file ({err}); checking it every {settle:?}"
                );
                poll(&file, &reconfigure, settle).await
            }
        }
    })
}

async fn on_change(
    file: &Path,
    mut changes: changes::Changes,
    reconfigure: &Reconfigure,
    settle: Duration,
) {
    loop {
        if let Err(err) = changes.next().await {
            tracing::warn!(
                file = %file.display(),
                "file notifications for the configuration file stopped ({err}); checking it every {settle:?}"
            );
            return poll(file, reconfigure, settle).await;
        }
        // Editors and `cp` write in several steps: wait until it is quiet.
        while let Ok(Ok(())) = tokio::time::timeout(settle, changes.next()).await {}
        // A file replaced by a rename is a new inode: watch that one now.
        changes.rearm(file);
        apply(reconfigure).await;
    }
}

/// Without notifications: what the file looks like, every `every`.
async fn poll(file: &Path, reconfigure: &Reconfigure, every: Duration) {
    let mut seen = stamp(file);
    loop {
        tokio::time::sleep(every).await;
        let now = stamp(file);
        if now != seen {
            seen = now;
            apply(reconfigure).await;
        }
    }
}

/// Size, modification time and inode: changed by any write or rename.
/// `None` while the file is missing.
fn stamp(file: &Path) -> Option<(u64, std::time::SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.len(), meta.modified().ok()?, meta.ino()))
}

async fn apply(reconfigure: &Reconfigure) {
    // Put in force, it logs itself; refused, the reason goes to the log.
    if let Err(reason) = reconfigure().await {
        tracing::error!("reload refused, the configuration in force keeps serving: {reason}");
    }
}

/// File notifications for one file (Linux: inotify through tokio's
/// reactor, no thread waits on them). The file itself is watched for
/// writes, and its directory for entries of that name created, moved in
/// or removed (a rename over it); other files of the directory (the
/// database, when it lives there) raise nothing.
#[cfg(target_os = "linux")]
mod changes {
    use std::ffi::OsString;
    use std::path::Path;

    use inotify::{EventMask, Inotify, WatchMask};
    use llmhost_runtime::notifications::Notifications;

    pub(super) struct Changes {
        notifications: Notifications,
        name: OsString,
    }

    /// What is a change to the file itself.
    const FILE: WatchMask = WatchMask::CLOSE_WRITE
        .union(WatchMask::MODIFY)
        .union(WatchMask::ATTRIB)
        .union(WatchMask::DELETE_SELF)
        .union(WatchMask::MOVE_SELF);
    /// What is a change to its name in the directory.
    const ENTRY: WatchMask = WatchMask::CREATE
        .union(WatchMask::MOVED_TO)
        .union(WatchMask::MOVED_FROM)
        .union(WatchMask::DELETE)
        .union(WatchMask::ONLYDIR);

    impl Changes {
        pub(super) fn watch(file: &Path) -> std::io::Result<Self> {
            let name = file
                .file_name()
                .ok_or_else(|| std::io::Error::other("not a file name"))?
                .to_owned();
            let dir = match file.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let inotify = Inotify::init()?;
            inotify.watches().add(dir, ENTRY)?;
            inotify.watches().add(file, FILE)?;
            Ok(Self {
                notifications: Notifications::new(inotify)?,
                name,
            })
        }

        /// Watches the file now at `file` (after a rename, another inode);
        /// while there is none, its directory's watch will say when it
        /// comes back.
        pub(super) fn rearm(&self, file: &Path) {
            let _ = self.notifications.watches().add(file, FILE);
        }

        /// Waits for the next change to the file; an error ends the watch.
        pub(super) async fn next(&mut self) -> std::io::Result<()> {
            let name = &self.name;
            self.notifications
                .next(|e| !e.mask.contains(EventMask::IGNORED) && e.name.is_none_or(|n| n == name))
                .await
        }
    }
}

/// Without inotify there are no notifications: the caller polls.
#[cfg(not(target_os = "linux"))]
mod changes {
    use std::path::Path;

    pub(super) enum Changes {}

    impl Changes {
        pub(super) fn watch(_file: &Path) -> std::io::Result<Self> {
            Err(std::io::Error::other(
                "no file notifications on this system",
            ))
        }

        pub(super) fn rearm(&self, _file: &Path) {
            match *self {}
        }

        pub(super) async fn next(&mut self) -> std::io::Result<()> {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn a_write_or_a_rename_over_the_file_changes_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("llmhost.toml");
        assert_eq!(stamp(&file), None, "missing");
        std::fs::write(&file, "a = 1\n").unwrap();
        let first = stamp(&file).unwrap();
        std::fs::write(&file, "a = 12\n").unwrap();
        let written = stamp(&file).unwrap();
        assert_ne!(first, written, "a longer file");
        let other = dir.path().join("next.toml");
        std::fs::write(&other, "a = 13\n").unwrap();
        std::fs::rename(&other, &file).unwrap();
        assert_ne!(stamp(&file).unwrap(), written, "another inode");
    }
}
