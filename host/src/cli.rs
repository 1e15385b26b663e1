//! The command line: flags (each also read from `LLMHOST_<FLAG>`), turned
//! into the configuration of the command that runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::api::ApiConfig;
use crate::runtime::RuntimeConfig;
use crate::server::{Role, ServeConfig};
use crate::worker::WorkerConfig;

#[derive(Debug, Parser)]
#[command(
    name = "llmhost",
    version,
    about = "Runs LLM providers as WebAssembly components and executes LLM tasks submitted over REST"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        env = "LLMHOST_LOG_FORMAT",
        value_enum,
        default_value = "human"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the REST API and the workers.
    Serve(ServeArgs),
    /// Submits a task to a running server and optionally waits for it.
    Submit(crate::client::SubmitArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address the API listens on (port 0 picks a free one).
    #[arg(long, env = "LLMHOST_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// sqlite://PATH (default: llmhost.db in the data directory) or postgres://…
    #[arg(long, env = "LLMHOST_DATABASE_URL")]
    database_url: Option<String>,
    /// Where the embedded database lives.
    #[arg(long, env = "LLMHOST_DATA_DIR", default_value = ".llmhost")]
    data_dir: PathBuf,
    /// Directory of `<name>.wasm` providers (default: the bundled plugins).
    #[arg(long, env = "LLMHOST_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// How often to check the plugins directory for changed files, in ms
    /// (0: only on `POST /api/v1/providers/reload`).
    #[arg(long, env = "LLMHOST_PLUGIN_RELOAD_MS", default_value_t = 2_000)]
    plugin_reload_ms: u64,
    /// Where compiled plugins are cached (default: `cache` in the data
    /// directory).
    #[arg(long, env = "LLMHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// How many tasks this process runs at once.
    #[arg(long, env = "LLMHOST_WORKERS", default_value_t = 16)]
    workers: usize,
    /// What this process does: serve the API, run tasks, or both.
    #[arg(long, env = "LLMHOST_ROLE", value_enum, default_value = "all")]
    role: Role,
    /// `max_attempts` of tasks that do not set it.
    #[arg(long, env = "LLMHOST_MAX_ATTEMPTS", default_value_t = 3)]
    max_attempts: u32,
    /// How long a claimed task stays leased without a heartbeat, in ms.
    #[arg(long, env = "LLMHOST_LEASE_MS", default_value_t = 30_000)]
    lease_ms: u64,
    /// On shutdown, how long running tasks may finish before they are handed
    /// back to pending, in ms.
    #[arg(long, env = "LLMHOST_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    shutdown_grace_ms: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "LLMHOST_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<ServeConfig> {
        anyhow::ensure!(self.workers >= 1, "--workers must be at least 1");
        anyhow::ensure!(self.lease_ms >= 100, "--lease-ms must be at least 100");
        anyhow::ensure!(
            (1..=20).contains(&self.max_attempts),
            "--max-attempts must be between 1 and 20"
        );
        let database_url = self
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("llmhost.db").display()));
        let plugins_dir = self
            .plugins_dir
            .unwrap_or_else(crate::server::bundled_plugins_dir);
        let cache_dir = self
            .cache_dir
            .unwrap_or_else(|| self.data_dir.join("cache"));
        Ok(ServeConfig {
            listen: self.listen,
            database_url,
            runtime: RuntimeConfig {
                plugins_dir,
                cache_dir: Some(cache_dir),
            },
            plugin_reload_interval: Duration::from_millis(self.plugin_reload_ms),
            role: self.role,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            api: ApiConfig {
                max_body_bytes: self.max_body_bytes,
                default_max_attempts: self.max_attempts,
            },
            worker: WorkerConfig {
                concurrency: self.workers,
                lease: Duration::from_millis(self.lease_ms),
                ..WorkerConfig::default()
            },
        })
    }
}

/// Parses the command line and runs the command; the process's exit code.
pub async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let outcome = match cli.command {
        Command::Serve(args) => match args.into_config() {
            Ok(config) => crate::server::serve(config).await,
            Err(err) => Err(err),
        },
        Command::Submit(args) => crate::client::submit(args).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("llmhost: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,wasmtime=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for people; files and pipes get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
