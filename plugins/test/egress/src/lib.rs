//! GETs the URL in the last message, following redirects itself, and answers with the body.

wit_bindgen::generate!({ path: "../../../wit", world: "plugin" });

use exports::llmhost::provider::provider::Guest;
use llmhost::provider::types::{Completion, FinishReason, ProviderError, ProviderInfo, Request};

struct Plugin;

fn info(name: &str, description: &str) -> ProviderInfo {
    ProviderInfo {
        name: name.into(),
        version: "0.0.0".into(),
        description: description.into(),
        models: vec![],
    }
}

fn answer(text: String, model: String) -> Completion {
    Completion {
        text,
        finish_reason: FinishReason::Stop,
        usage: None,
        model,
    }
}

export!(Plugin);

use llmhost_plugin_sdk::http::{self, HttpError};

impl Guest for Plugin {
    fn metadata() -> ProviderInfo {
        info("egress", "fetches the URL it is given")
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let mut url = request
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        for _ in 0..5 {
            let response = http::send(&http::Request::get(&url)).map_err(to_provider_error)?;
            match (response.status, response.header("location")) {
                (300..=399, Some(next)) => url = next.to_owned(),
                (200..=299, _) => return Ok(answer(response.text(), request.model)),
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
