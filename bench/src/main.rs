//! `llmhost-bench`: the compiled parts of the peer benchmark
//! (`scripts/bench-peers`), kept out of the servers being measured.
//!
//! - `mock`: an OpenAI-compatible upstream that costs next to nothing, so
//!   that what a run measures is the gateway in front of it. It counts the
//!   connections it accepts (`GET /stats`), which tells how many upstream
//!   connections a gateway opens per request.
//! - `load`: a closed-loop load generator over keep-alive HTTP/1.1
//!   connections, whole or streamed answers; writes every sample.
//! - `tasks`: the async path: submits tasks over HTTP and waits until none is
//!   pending or running.
//!
//! Each runs on one thread: the harness pins it to its own core with
//! `taskset`, away from the server being measured.

mod client;
mod load;
mod mock;
mod tasks;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "llmhost-bench",
    about = "Mock upstream and load generator for scripts/bench-peers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Mock(mock::Args),
    Load(load::Args),
    Tasks(tasks::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Mock(args) => mock::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Tasks(args) => tasks::run(args).await,
        }
    })
}
