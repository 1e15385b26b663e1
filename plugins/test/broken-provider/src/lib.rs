//! A provider with three deliberate bugs, each one a mistake plugin authors
//! make, so that the conformance suite can be shown to catch precisely them:
//! 1. HTTP 429 becomes `upstream-error` (the rate limit and its delay are lost);
//! 2. it slices the prompt at a byte offset, which traps on non-ASCII text;
//! 3. when a request times out it retries forever, ignoring the deadline.
//!
//! Everything else is right: `POST {base_url}/complete` with `{"prompt"}`,
//! answered `{"text"}`.

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer;
use llmhost_plugin_sdk::http::{self, HttpError};
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};
use llmhost_plugin_sdk::{errors, shared};

struct Broken;

llmhost_plugin_sdk::export_provider!(Broken);

impl Provider for Broken {
    fn metadata() -> ProviderInfo {
        let mut info = answer::info(
            "broken-provider",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_DESCRIPTION"),
        );
        info.models = vec![answer::model("broken-1", "the only model")];
        info
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let prompt = request
            .messages
            .last()
            .map(|m| llmhost_plugin_sdk::parts::text(&m.content))
            .unwrap_or_default();
        // Bug 2: a "preview" cut at byte 2, inside a multi-byte character.
        let preview = if prompt.len() > 2 { &prompt[..2] } else { "" };
        let body =
            serde_json::json!({"model": request.model, "prompt": prompt, "preview": preview});
        let url = format!(
            "{}/complete",
            shared::base_url("https://api.broken.invalid/v1")
        );
        let post = http::Request::post_json(url, body.to_string().into_bytes());
        let response = loop {
            match http::send(&post) {
                Ok(response) => break response,
                // Bug 3: "the upstream is just slow", try again, forever.
                Err(HttpError::Timeout(_)) => continue,
                Err(other) => return Err(errors::transport_error("broken", other)),
            }
        };
        if response.status == 429 {
            // Bug 1: a rate limit reported as a generic upstream failure.
            return Err(ProviderError::UpstreamError(format!(
                "broken: HTTP 429: {}",
                response.text()
            )));
        }
        if !(200..300).contains(&response.status) {
            let message = format!(
                "broken: HTTP {}: {}",
                response.status,
                errors::bounded(&response.text())
            );
            return Err(errors::by_status(
                response.status,
                message,
                errors::retry_after_ms(&response),
            ));
        }
        let parsed: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| errors::malformed("broken", e, &response.body))?;
        let text = parsed["text"].as_str().ok_or_else(|| {
            ProviderError::UpstreamError("broken: malformed response: no text".into())
        })?;
        Ok(answer::text(text.to_owned(), request.model))
    }
}
