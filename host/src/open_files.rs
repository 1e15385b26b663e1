//! The open-files limit: raised at start from its soft value to the hard
//! one (every connection, database connection and plugin file is one), and
//! how many connections the API may hold within it.

/// Files kept for what is not an API connection: the database, egress
/// connections, plugins, logs.
const RESERVED: u64 = 256;

/// Raises the soft limit to the hard one; the soft limit in force after.
pub(crate) fn raise_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(from = soft, to = hard, "raised the open-files limit");
                return hard;
            }
            Err(err) => tracing::warn!(soft, hard, "could not raise the open-files limit: {err}"),
        }
    }
    soft
}

/// The default connection limit under `open_files`: what is left after the
/// reserve (a quarter of the limit, at least 256), so that accepting never
/// runs the process out of files.
pub(crate) fn default_max_connections(open_files: u64) -> usize {
    let reserve = (open_files / 4).max(RESERVED);
    usize::try_from(open_files.saturating_sub(reserve).max(16)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_leaves_a_reserve_of_files() {
        assert_eq!(default_max_connections(20_000), 15_000);
        assert_eq!(default_max_connections(1024), 768);
        assert_eq!(default_max_connections(100), 16);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let after = raise_limit();
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((after, soft), (hard, hard));
    }
}
