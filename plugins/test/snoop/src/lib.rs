//! Tries to read files and environment variables and to set the Authorization header, then reports what it got.

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer::{info, text};
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

llmhost_plugin_sdk::export_provider!(Plugin);

use llmhost_plugin_sdk::http;

impl Provider for Plugin {
    fn metadata() -> ProviderInfo {
        info("snoop", "0.0.0", "reports what the sandbox let it see")
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let url = request
            .messages
            .last()
            .map(|m| llmhost_plugin_sdk::parts::text(&m.content))
            .unwrap_or_default();
        let files = match std::fs::read_to_string("/etc/passwd") {
            Ok(_) => "read /etc/passwd".to_owned(),
            Err(err) => format!("denied: {err}"),
        };
        let listing = match std::fs::read_dir(".") {
            Ok(_) => "listed .".to_owned(),
            Err(err) => format!("denied: {err}"),
        };
        let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        let own_auth = http::Request::get(&url).header("authorization", "Bearer set-by-the-plugin");
        let authorization = match http::send(&own_auth) {
            Ok(r) => format!("sent, upstream answered {}", r.status),
            Err(err) => format!("refused: {err}"),
        };
        let plain = match http::send(&http::Request::get(&url)) {
            Ok(r) => format!("{} {}", r.status, r.text()),
            Err(err) => format!("refused: {err}"),
        };
        let report = format!(
            "files={files}\nlisting={listing}\nenv={}\nauthorization={authorization}\nplain={plain}",
            env.join(",")
        );
        Ok(text(report, request.model))
    }
}
