//! GETs the URL in the last message, following redirects itself, and answers with the body.

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer::{info, text};
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

llmhost_plugin_sdk::export_provider!(Plugin);

use llmhost_plugin_sdk::http::{self, HttpError};

impl Provider for Plugin {
    fn metadata() -> ProviderInfo {
        info("egress", "0.0.0", "fetches the URL it is given")
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let mut url = request
            .messages
            .last()
            .map(|m| llmhost_plugin_sdk::parts::text(&m.content))
            .unwrap_or_default();
        for _ in 0..5 {
            let response = http::send(&http::Request::get(&url)).map_err(to_provider_error)?;
            match (response.status, response.header("location")) {
                (300..=399, Some(next)) => url = next.to_owned(),
                (200..=299, _) => return Ok(text(response.text(), request.model)),
                (status, _) => {
                    return Err(ProviderError::UpstreamError(format!("status {status}")));
                }
            }
        }
        Err(ProviderError::UpstreamError("too many redirects".into()))
    }
}

fn to_provider_error(err: HttpError) -> ProviderError {
    match err {
        HttpError::Timeout(m) => ProviderError::Timeout(m),
        other => ProviderError::UpstreamError(other.to_string()),
    }
}
