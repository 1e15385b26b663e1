//! Every write that moves a task from one status to another: the edges of
//! `TaskStatus::TRANSITIONS`, and nothing else. Each is one conditional
//! statement with the status it expects in its WHERE clause, never a
//! read-modify-write. A worker's writes also require the attempt its claim
//! returned, so a worker that lost its task writes nothing; each tells its
//! caller what happened in its own outcome type (`Fenced`, `Retry`,
//! `Cancel`, …).
//!
//! One file per group of edges. Two edges are written in batches under load
//! (keyless inserts and completions): their statements are here too, and
//! `batch` only decides which queued rows share a statement.

mod cancel;
mod claim;
mod finish;
mod insert;
mod rescue;

use std::time::Duration;

pub(crate) use finish::{Completion, bind_completions, completion_statement};
pub(crate) use insert::{Insertion, bind_insertions, insert_statement};

/// A duration as the store's clock counts it (ms), saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
