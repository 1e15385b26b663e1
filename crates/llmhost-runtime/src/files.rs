//! The plugins directory as files: which entries are candidates, the stamp
//! that tells whether one changed, and reading one safely. A file is read
//! only when it is a regular file within its size cap, opened without
//! blocking (a FIFO named `x.wasm` is refused, never waited on), and only on
//! a blocking thread under a timeout, never on the async runtime's threads.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The largest component file loaded (the bundled providers are ~1 MiB).
pub(crate) const MAX_COMPONENT_BYTES: u64 = 64 << 20;
/// The largest manifest read.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// How long reading and compiling one component may take before the reload
/// gives up on it (its thread finishes on its own; the runtime moves on).
pub(crate) const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// `O_NONBLOCK`: opening a FIFO for reading would otherwise wait for a
/// writer. Its value on the architectures we build for (libc's, which this
/// crate does not depend on); elsewhere the type check before opening
/// still refuses a FIFO.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
)))]
const O_NONBLOCK: i32 = 0;

/// `(name, path)` of every entry named `*.wasm` in `dir`, sorted by name,
/// whatever it is: what kind of file it is decides when it is read.
pub(crate) fn discover(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("plugins directory {}: {e}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "wasm")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            found.push((stem.to_owned(), path));
        }
    }
    found.sort();
    Ok(found)
}

/// What a plugin's files were when last looked at: any change of size,
/// time, inode or kind (a file replaced by a rename, a FIFO by a file)
/// means it is loaded again; no change means the last outcome stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    wasm: Option<FileStamp>,
    manifest: Option<FileStamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    device: u64,
    inode: u64,
    mode: u32,
}

/// The stamp of `<name>.wasm` and the manifest beside it. `stat` never
/// blocks on what it looks at, whatever kind of file it is.
pub(crate) fn stamp(wasm: &Path) -> Stamp {
    let of = |path: &Path| {
        std::fs::metadata(path).ok().map(|m| FileStamp {
            len: m.len(),
            modified: m.modified().ok(),
            device: m.dev(),
            inode: m.ino(),
            mode: m.mode(),
        })
    };
    Stamp {
        wasm: of(wasm),
        manifest: of(&wasm.with_extension("toml")),
    }
}

/// Why a file was not read (its path is the caller's to add).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    #[error("{kind}, not a regular file")]
    NotRegular { kind: &'static str },
    #[error("{size} bytes; the limit is {max}")]
    TooLarge { size: u64, max: u64 },
    #[error(transparent)]
    Io(std::io::Error),
}

impl Refused {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The whole of `path`, which must be a regular file (a symlink to one is
/// followed) of at most `max` bytes. Blocking: call it off the runtime.
pub(crate) fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, Refused> {
    let io = Refused::Io;
    check(&std::fs::metadata(path).map_err(io)?, max)?;
    // Checked again on what was opened: the entry may have been swapped
    // between the two looks.
    let file = File::options()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let size = check(&file.metadata().map_err(io)?, max)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(Refused::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

/// The file's size, if it is a regular file within `max`.
fn check(meta: &Metadata, max: u64) -> Result<u64, Refused> {
    let kind = meta.file_type();
    let not_regular = |kind| Refused::NotRegular { kind };
    if kind.is_dir() {
        return Err(not_regular("a directory"));
    }
    if kind.is_fifo() {
        return Err(not_regular("a FIFO (named pipe)"));
    }
    if kind.is_socket() {
        return Err(not_regular("a socket"));
    }
    if kind.is_char_device() || kind.is_block_device() {
        return Err(not_regular("a device"));
    }
    if !kind.is_file() {
        return Err(not_regular("not a file"));
    }
    if meta.len() > max {
        return Err(Refused::TooLarge {
            size: meta.len(),
            max,
        });
    }
    Ok(meta.len())
}

/// Runs `work` on a blocking thread, giving up on it after `timeout`.
pub(crate) async fn off_runtime<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(anyhow::anyhow!("{what}: {join}")),
        Err(_) => Err(anyhow::anyhow!("{what}: gave up after {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_within_its_cap_is_read() {
        let dir = tempfile_dir();
        let file = dir.join("ok.wasm");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(read_regular(&file, 3).unwrap(), b"abc");
        let err = read_regular(&file, 2).unwrap_err().to_string();
        assert!(err.ends_with("3 bytes; the limit is 2"), "{err}");

        let sub = dir.join("dir.wasm");
        std::fs::create_dir(&sub).unwrap();
        let err = read_regular(&sub, 10).unwrap_err().to_string();
        assert!(err.contains("a directory, not a regular file"), "{err}");

        let fifo = dir.join("fifo.wasm");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        // Returns at once: nothing waits for a writer.
        let err = read_regular(&fifo, 10).unwrap_err().to_string();
        assert!(
            err.contains("a FIFO (named pipe), not a regular file"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stamp_changes_when_a_file_is_replaced_even_at_the_same_size() {
        let dir = tempfile_dir();
        let file = dir.join("p.wasm");
        std::fs::write(&file, b"one").unwrap();
        let before = stamp(&file);
        assert_eq!(before, stamp(&file));
        std::fs::write(dir.join("p.tmp"), b"two").unwrap();
        std::fs::rename(dir.join("p.tmp"), &file).unwrap();
        assert_ne!(before, stamp(&file), "a new inode");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("llmhost-files-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
