//! The command line: subcommands and their flags (each also read from
//! `LLMHOST_<FLAG>`), merged over the configuration file (see `config`) into
//! what the command runs with.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod client;
mod conformance;
mod keys;
mod plugin_kit;

use crate::config::{LogFormat, Role, Settings};
use crate::secret::{DatabaseUrl, Secret};
use crate::server::ServeConfig;

#[derive(Debug, Parser)]
#[command(
    name = "llmhost",
    version,
    about = "Runs LLM providers as WebAssembly components and executes LLM tasks submitted over REST"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr: human or json [default: human, or the config file's].
    #[arg(long, global = true, env = "LLMHOST_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the REST API and the workers.
    Serve(ServeArgs),
    /// Submits a task to a running server and optionally waits for it.
    Submit(client::SubmitArgs),
    /// Manages tenants' API keys on a running server (an admin token).
    Keys(keys::KeysArgs),
    /// Works with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Checks a provider plugin against the contract, hermetically: its
    /// metadata, answers, typed errors, robustness and deadline behaviour.
    /// Exits non-zero when a case fails.
    Conformance(conformance::ConformanceArgs),
    /// Tools for plugin authors: inspect a plugin, start a new one.
    #[command(subcommand)]
    Plugin(plugin_kit::PluginCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validates a configuration and prints the effective one (file, then
    /// environment, then flags), secrets masked. Exits non-zero naming the
    /// first bad key.
    Check {
        /// The file to check [default: --config / LLMHOST_CONFIG, else none].
        file: Option<PathBuf>,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

/// The flags of `serve`. Each is optional here: what a flag (or its
/// variable) leaves unset comes from the config file, then the default.
#[derive(Debug, Default, clap::Args)]
struct ServeArgs {
    /// A TOML configuration file (keys are the flags' names with `_`).
    #[arg(long, env = "LLMHOST_CONFIG")]
    config: Option<PathBuf>,
    /// Address the API listens on; port 0 picks a free one [default: 127.0.0.1:8080].
    #[arg(long, env = "LLMHOST_LISTEN")]
    listen: Option<SocketAddr>,
    /// Also serve `/metrics`, `/healthz` and `/readyz` alone on this address (how a
    /// `--role worker` process is scraped); port 0 picks a free one.
    #[arg(long, env = "LLMHOST_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// sqlite://PATH or postgres://… [default: sqlite://DATA_DIR/llmhost.db].
    #[arg(long, env = "LLMHOST_DATABASE_URL", hide_env_values = true)]
    database_url: Option<DatabaseUrl>,
    /// Where the embedded database lives [default: .llmhost].
    #[arg(long, env = "LLMHOST_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Directory of `<name>.wasm` providers [default: the bundled plugins].
    #[arg(long, env = "LLMHOST_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// Reload this many ms after the plugins directory or the `--config`
    /// file last changed (watched with inotify; checked this often where
    /// that is unavailable); 0 only reloads on `POST
    /// /api/v1/providers/reload` (and the file at SIGHUP) [default: 2000].
    #[arg(long, env = "LLMHOST_PLUGIN_RELOAD_MS")]
    plugin_reload_ms: Option<u64>,
    /// Where compiled plugins are cached [default: DATA_DIR/cache].
    #[arg(long, env = "LLMHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// A PEM file of CA certificates trusted for upstream (provider) TLS
    /// besides the webpki roots, e.g. an internal server's private CA.
    #[arg(long, env = "LLMHOST_UPSTREAM_CA_FILE")]
    upstream_ca_file: Option<PathBuf>,
    /// How many tasks this process runs at once [default: 16].
    #[arg(long, env = "LLMHOST_WORKERS")]
    workers: Option<usize>,
    /// What this process does: api, worker or all [default: all].
    #[arg(long, env = "LLMHOST_ROLE", value_enum)]
    role: Option<Role>,
    /// `max_attempts` of tasks that do not set it [default: 3].
    #[arg(long, env = "LLMHOST_MAX_ATTEMPTS")]
    max_attempts: Option<u32>,
    /// How long a claimed task stays leased without a heartbeat, in ms [default: 30000].
    #[arg(long, env = "LLMHOST_LEASE_MS")]
    lease_ms: Option<u64>,
    /// The longest a failed attempt waits for its retry, in ms, even when
    /// an upstream's `retry-after` asks for longer [default: 3600000].
    #[arg(long, env = "LLMHOST_RETRY_DELAY_MAX_MS")]
    retry_delay_max_ms: Option<u64>,
    /// On shutdown, how long running tasks may finish before they are handed
    /// back to pending, in ms [default: 10000].
    #[arg(long, env = "LLMHOST_SHUTDOWN_GRACE_MS")]
    shutdown_grace_ms: Option<u64>,
    /// How long a request's headers may take to arrive, in ms, the wait for
    /// the next request on an idle keep-alive connection included; the
    /// connection is closed after it [default: 30000].
    #[arg(long, env = "LLMHOST_HEADER_TIMEOUT_MS")]
    header_timeout_ms: Option<u64>,
    /// API connections held at once; more are refused with a 503
    /// `too_many_connections` [default: three quarters of the open-files
    /// limit, which is raised to its hard value at start].
    #[arg(long, env = "LLMHOST_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Largest accepted request body, in bytes [default: 1048576].
    #[arg(long, env = "LLMHOST_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Serve the web dashboard at /ui: true or false [default: true].
    #[arg(long, env = "LLMHOST_UI", value_name = "BOOL")]
    ui: Option<bool>,
    /// A bearer token the API accepts (repeat for several; the variable is
    /// comma-separated). With any token set, every endpoint but /healthz and /readyz
    /// requires `Authorization: Bearer <token>`.
    #[arg(
        long = "auth-token",
        env = "LLMHOST_AUTH_TOKENS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    auth_tokens: Vec<Secret>,
    /// Tokens a tenant key's request without `max_tokens` reserves for its
    /// answer against the key's tpm until it ends [default: 1024].
    #[arg(long, env = "LLMHOST_RESERVE_OUTPUT_TOKENS")]
    reserve_output_tokens: Option<u32>,
    /// Usage ledger rows older than this many days are rolled up, one row
    /// per key, provider, model, route, outcome and day; 0 keeps every row
    /// [default: 90].
    #[arg(long, env = "LLMHOST_USAGE_RETENTION_DAYS")]
    usage_retention_days: Option<u32>,
    /// How long the usage row of a `/v1` call made without a key, written
    /// just after its answer, may wait for others to share one commit; 0
    /// writes each at once. A `kill -9` loses at most this much of it
    /// [default: 50, at most 60000].
    #[arg(long, env = "LLMHOST_USAGE_WRITE_DELAY_MS")]
    usage_write_delay_ms: Option<u64>,
}

impl ServeArgs {
    /// Defaults, then the file, then what flags and variables set.
    fn resolve(
        self,
        file: Option<PathBuf>,
        log_format: Option<LogFormat>,
    ) -> anyhow::Result<Settings> {
        let mut s = match file.or(self.config) {
            Some(path) => Settings {
                config_file: Some(path.clone()),
                ..crate::config::load_file(&path)?
            },
            None => Settings::default(),
        };
        macro_rules! overlay {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { s.$field = v; } )* };
        }
        overlay!(
            listen,
            data_dir,
            workers,
            role,
            max_attempts,
            lease_ms,
            retry_delay_max_ms,
            shutdown_grace_ms,
            header_timeout_ms,
            max_body_bytes,
            plugin_reload_ms,
            reserve_output_tokens,
            usage_retention_days,
            usage_write_delay_ms,
            ui
        );
        if let Some(dir) = self.cache_dir {
            s.cache_dir = Some(dir);
        }
        if let Some(file) = self.upstream_ca_file {
            s.upstream_ca_file = Some(file);
        }
        if let Some(max) = self.max_connections {
            s.max_connections = Some(max);
        }
        if let Some(addr) = self.metrics_listen {
            s.metrics_listen = Some(addr);
        }
        if let Some(url) = self.database_url {
            s.database_url = Some(url);
        }
        if let Some(dir) = self.plugins_dir {
            s.plugins_dir = Some(dir);
        }
        if let Some(format) = log_format {
            s.log_format = format;
        }
        if !self.auth_tokens.is_empty() {
            s.auth_tokens = self.auth_tokens;
        }
        s.validate()?;
        s.check_instances()?;
        Ok(s)
    }
}

/// Parses the command line and runs the command; the process's exit code.
pub async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => match args.resolve(None, cli.log_format) {
            Ok(settings) => {
                init_tracing(settings.log_format);
                crate::server::serve(ServeConfig::from(settings)).await
            }
            Err(err) => Err(err.context("invalid configuration")),
        },
        Command::Submit(args) => {
            init_tracing(cli.log_format.unwrap_or(LogFormat::Human));
            client::submit(args).await
        }
        Command::Keys(args) => {
            init_tracing(cli.log_format.unwrap_or(LogFormat::Human));
            keys::main(args).await
        }
        Command::Config(ConfigCommand::Check { file, serve }) => {
            match serve.resolve(file, cli.log_format) {
                Ok(settings) => {
                    print!("{}", settings.to_masked_toml());
                    eprintln!("llmhost: configuration is valid");
                    Ok(())
                }
                Err(err) => Err(err.context("invalid configuration")),
            }
        }
        Command::Conformance(args) => {
            init_tracing_quiet(cli.log_format.unwrap_or(LogFormat::Human));
            match conformance::main(args).await {
                Ok(true) => Ok(()),
                Ok(false) => return std::process::ExitCode::FAILURE,
                Err(err) => Err(err),
            }
        }
        Command::Plugin(command) => {
            init_tracing_quiet(cli.log_format.unwrap_or(LogFormat::Human));
            match plugin_kit::main(command).await {
                Ok(true) => Ok(()),
                Ok(false) => return std::process::ExitCode::FAILURE,
                Err(err) => Err(err),
            }
        }
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
    init_tracing_with(format, "info,sqlx=warn,wasmtime=warn");
}

/// For the plugin author kit: the report is the output; the log says only
/// what went wrong.
fn init_tracing_quiet(format: LogFormat) {
    init_tracing_with(format, "warn,wasmtime=warn");
}

fn init_tracing_with(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
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
