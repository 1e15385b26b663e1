//! How HTTP trouble becomes the contract's typed errors: transport
//! failures, rate-limit delays, status codes, and bounded error messages in
//! one shape for every vendor.

use crate::bindings::llmhost::provider::types::{ProviderError, RateLimit};
use crate::http::{HttpError, Response};

/// Error texts are cut to this many bytes: an upstream's error page can be big.
const MAX_MESSAGE: usize = 500;

/// A request that did not produce a response: a timeout is `timeout`, an
/// unusable base URL is the operator's `invalid-request`, anything else means
/// the upstream could not be reached. (When the host's egress policy refused
/// the request, the host reports `egress_denied` whatever we answer.)
pub fn transport_error(vendor: &str, err: HttpError) -> ProviderError {
    match err {
        HttpError::Timeout(m) => ProviderError::Timeout(format!("{vendor}: {m}")),
        HttpError::InvalidRequest(m) => {
            ProviderError::InvalidRequest(format!("{vendor}: check base_url: {m}"))
        }
        other => ProviderError::UpstreamUnavailable(format!("{vendor}: {other}")),
    }
}

/// How long the upstream asked us to wait: `retry-after-ms` (milliseconds,
/// OpenAI) or `retry-after` (seconds; an HTTP date is ignored: plugins have
/// no wall clock worth trusting).
pub fn retry_after_ms(response: &Response) -> Option<u64> {
    let number = |name: &str| {
        response
            .header(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(ms.ceil() as u64);
    }
    number("retry-after").map(|s| (s * 1000.0).ceil() as u64)
}

/// The usual meaning of an HTTP status; each vendor refines it from its
/// error body.
pub fn by_status(status: u16, message: String, retry_after_ms: Option<u64>) -> ProviderError {
    match status {
        401 => ProviderError::Authentication(message),
        403 => ProviderError::PermissionDenied(message),
        404 => ProviderError::ModelNotFound(message),
        408 | 504 => ProviderError::Timeout(message),
        429 => ProviderError::RateLimited(RateLimit {
            message: match retry_after_ms {
                Some(ms) => format!("{message} (retry after {ms} ms)"),
                None => message,
            },
            retry_after_ms,
        }),
        502 | 503 | 529 => ProviderError::UpstreamUnavailable(message),
        400..=499 => ProviderError::InvalidRequest(message),
        _ => ProviderError::UpstreamError(message),
    }
}

/// The message of a vendor's error, the same shape for every vendor:
/// `"<vendor>: <where>[ (<vendor's code>)]: <its text, bounded>"`, e.g.
/// `openai: HTTP 429 (rate_limit_exceeded): Rate limit reached`.
pub fn error_message(vendor: &str, place: &str, code: &str, text: &str) -> String {
    let code = if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    };
    format!("{vendor}: {place}{code}: {}", bounded(text))
}

/// `text`, cut to a bounded length on a character boundary.
pub fn bounded(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MAX_MESSAGE {
        return text.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A 2xx body that is not what the vendor documents.
pub fn malformed(vendor: &str, err: serde_json::Error, body: &[u8]) -> ProviderError {
    ProviderError::UpstreamError(format!(
        "{vendor}: malformed response ({err}): {}",
        bounded(&String::from_utf8_lossy(body))
    ))
}
