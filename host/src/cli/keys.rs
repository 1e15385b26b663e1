//! `llmhost keys create|list|get|update|rotate|revoke`: the admin API's
//! `/api/v1/keys` over HTTP, with an admin token. Prints the server's JSON;
//! `create` and `rotate` print the key itself, which the server shows only
//! this once.

use anyhow::Context;
use serde_json::{Map, Value, json};

use super::client::{client, read_json};

#[derive(Debug, clap::Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    /// The server's base URL.
    #[arg(
        long,
        global = true,
        env = "LLMHOST_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// An admin token (one of the server's `--auth-token`s).
    #[arg(long, global = true, env = "LLMHOST_TOKEN", hide_env_values = true)]
    token: Option<crate::secret::Secret>,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Creates a key and prints it (shown this once).
    Create(KeyFields),
    /// Lists every key (never the keys themselves).
    List,
    /// Shows one key: its scope, limits and last use.
    Get {
        /// The key's id (`key_…`).
        id: String,
    },
    /// Gives a key a new secret and prints it (shown this once): same id,
    /// scope, limits and usage; the old secret is refused at once.
    Rotate {
        /// The key's id (`key_…`).
        id: String,
    },
    /// Changes a key's name, scope or limits; `none` removes a limit.
    Update {
        /// The key's id (`key_…`).
        id: String,
        #[command(flatten)]
        fields: KeyFields,
    },
    /// Revokes a key, at once and for good.
    Revoke {
        /// The key's id (`key_…`).
        id: String,
    },
}

/// What a key is made of; each flag left out is left as it is (for
/// `update`) or unset (for `create`).
#[derive(Debug, clap::Args)]
struct KeyFields {
    /// Who the key is for.
    #[arg(long)]
    name: Option<String>,
    /// Comma-separated patterns of `<provider>/<model>` or routes, `*` for
    /// any characters (`openai/*,smart`).
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Requests per minute, or `none`.
    #[arg(long)]
    rpm: Option<Limit>,
    /// Tokens per minute, or `none`.
    #[arg(long)]
    tpm: Option<Limit>,
    /// Tasks and /v1 calls in flight at once, or `none`.
    #[arg(long)]
    max_parallel: Option<Limit>,
    /// Spend per period in US dollars, or `none`.
    #[arg(long)]
    budget_usd: Option<Limit>,
    /// The budget's period (`30d`, `12h`, `15m`, `90s`), or `none`.
    #[arg(long)]
    budget_period: Option<Limit>,
}

/// A limit's value, or `none` to remove it.
#[derive(Clone, Debug)]
struct Limit(Value);

impl std::str::FromStr for Limit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "none" {
            return Ok(Self(Value::Null));
        }
        Ok(Self(match text.parse::<f64>() {
            Ok(_) => serde_json::from_str(text).map_err(|e| e.to_string())?,
            Err(_) => Value::String(text.to_owned()),
        }))
    }
}

impl KeyFields {
    /// The JSON body: only the fields given.
    fn body(self) -> Value {
        let mut body = Map::new();
        if let Some(name) = self.name {
            body.insert("name".into(), json!(name));
        }
        if let Some(models) = self.models {
            let models: Vec<String> = models
                .into_iter()
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            body.insert("models".into(), json!(models));
        }
        for (field, value) in [
            ("rpm", self.rpm),
            ("tpm", self.tpm),
            ("max_parallel", self.max_parallel),
            ("budget_usd", self.budget_usd),
            ("budget_period", self.budget_period),
        ] {
            if let Some(Limit(value)) = value {
                body.insert(field.into(), value);
            }
        }
        Value::Object(body)
    }
}

pub(crate) async fn main(args: KeysArgs) -> anyhow::Result<()> {
    let http = client(args.token.as_ref())?;
    let base = format!("{}/api/v1/keys", args.server.trim_end_matches('/'));
    match args.command {
        KeysCommand::Create(fields) => {
            if fields.name.is_none() {
                anyhow::bail!("keys create: --name is required");
            }
            print_key(read_json(http.post(&base).json(&fields.body()).send().await?).await?)
        }
        KeysCommand::List => print(read_json(http.get(&base).send().await?).await?),
        KeysCommand::Get { id } => {
            print(read_json(http.get(format!("{base}/{id}")).send().await?).await?)
        }
        KeysCommand::Rotate { id } => {
            let url = format!("{base}/{id}/rotate");
            print_key(read_json(http.post(url).send().await?).await?)
        }
        KeysCommand::Update { id, fields } => {
            let url = format!("{base}/{id}");
            print(read_json(http.patch(url).json(&fields.body()).send().await?).await?)
        }
        KeysCommand::Revoke { id } => {
            print(read_json(http.delete(format!("{base}/{id}")).send().await?).await?)
        }
    }
}

/// The key alone on stdout (`key=$(llmhost keys create …)`), the rest on
/// stderr.
fn print_key(mut answer: Value) -> anyhow::Result<()> {
    let key = answer["key"]
        .as_str()
        .context("the answer has no key")?
        .to_owned();
    if let Some(object) = answer.as_object_mut() {
        object.remove("key");
    }
    eprintln!("{}", serde_json::to_string_pretty(&answer)?);
    eprintln!("the key is shown this once; store it now");
    println!("{key}");
    Ok(())
}

fn print(answer: Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
