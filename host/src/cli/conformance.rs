//! `llmhost conformance`: the command over the conformance suite
//! (`crate::conformance`): its flags, the progress on the terminal and the
//! exit status.

use std::path::PathBuf;

use crate::conformance::{Progress, Target, run_file};

/// What to check, from the command line.
#[derive(Debug, clap::Args)]
pub(crate) struct ConformanceArgs {
    /// The plugin component (`.wasm`).
    pub(crate) plugin: PathBuf,
    /// Its manifest [default: `<plugin>.toml` beside it, if any]. The
    /// provider's name must equal the manifest's file name.
    #[arg(long)]
    pub(crate) manifest: Option<PathBuf>,
    /// A directory of the plugin's own cases and upstream answers (`*.toml`).
    #[arg(long)]
    pub(crate) cases: Option<PathBuf>,
    /// Prints the report as JSON on stdout (progress goes to stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs the suite; `Ok(false)` when a case failed.
pub(crate) async fn main(args: ConformanceArgs) -> anyhow::Result<bool> {
    let mut progress = Progress::new(args.json);
    let target = Target {
        plugin: &args.plugin,
        manifest: args.manifest.as_deref(),
        cases: args.cases.as_deref(),
    };
    let report = run_file(&target, &mut progress).await?;
    progress.finish(&report)?;
    Ok(report.failed == 0)
}
