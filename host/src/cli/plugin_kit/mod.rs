//! `llmhost plugin …`: the plugin author's tools besides conformance —
//! `inspect` (what a component is built against and whether this host can
//! load it) and `new` (a provider crate to start from).

mod inspect;
mod scaffold;

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Shows what a plugin component is: the contract version it was built
    /// against, its imports and exports, its metadata, size and SHA-256, and
    /// whether this host can load it (exits non-zero when it cannot).
    Inspect {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Prints JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Creates a provider crate that builds to a plugin and passes
    /// conformance as it is: the contract's WIT, a commented `src/lib.rs`, a
    /// manifest, a conformance case file and a README.
    New {
        /// The provider's name: lowercase letters, digits and `-`.
        name: String,
        /// Where to create the crate [default: ./NAME].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Runs the command; `Ok(false)` when the inspected plugin cannot be loaded.
pub(crate) async fn main(command: PluginCommand) -> anyhow::Result<bool> {
    match command {
        PluginCommand::Inspect { file, json } => inspect::main(&file, json).await,
        PluginCommand::New { name, dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            scaffold::create(&name, &dir)?;
            Ok(true)
        }
    }
}
