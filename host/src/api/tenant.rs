//! Who is calling (`Caller`: an admin token, or a tenant's API key, set by
//! `auth`), what a tenant key may use (its scope: patterns over
//! `<provider>/<model>` and route aliases), and how an admission's verdict
//! is answered: `429` with `Retry-After` and OpenAI's `x-ratelimit-*`
//! headers, a budget's `429 budget_exceeded`. The limits themselves are
//! counted by the store (`llmhost_store::admission`), never here.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, ApiErrorCode};
use crate::pricing::pattern_matches;
use llmhost_store::Store;
use llmhost_store::admission::{Admission, Limit, Window};
use llmhost_store::keys::ApiKey;

/// Every tenant key starts with this, so that only such a token is looked
/// up in the store.
pub(crate) const KEY_PREFIX: &str = "lhk_";

/// Who sent a request, as authentication found.
#[derive(Clone, Debug)]
pub(crate) enum Caller {
    /// An admin token (`--auth-token`), or anyone while authentication is
    /// off: everything.
    Admin,
    /// A tenant's API key: the task API and `/v1`, within its scope.
    Tenant(Arc<ApiKey>),
}

impl Caller {
    /// The key's id, for a tenant.
    pub(crate) fn key_id(&self) -> Option<&str> {
        match self {
            Self::Admin => None,
            Self::Tenant(key) => Some(&key.id),
        }
    }

    /// Whether the caller may use `name` (`<provider>/<model>` or a route).
    pub(crate) fn allows(&self, name: &str) -> bool {
        match self {
            Self::Admin => true,
            Self::Tenant(key) => {
                key.models.is_empty() || key.models.iter().any(|p| pattern_matches(p, name))
            }
        }
    }

    /// `403 model_not_allowed` naming `name` unless the caller may use it.
    pub(crate) fn check_scope(&self, name: &str, param: &str) -> Result<(), ApiError> {
        match self {
            Self::Tenant(key) if !self.allows(name) => Err(ApiError::new(
                ApiErrorCode::ModelNotAllowed,
                format!(
                    "this API key ({}) may not use model {name:?}; it may use: {}",
                    key.name,
                    key.models.join(", ")
                ),
            )
            .with_param(param)),
            _ => Ok(()),
        }
    }

    /// Whether a task is this caller's to see: an admin sees every task, a
    /// key only those it submitted.
    pub(crate) fn owns(&self, task_key: Option<&str>) -> bool {
        match self {
            Self::Admin => true,
            Self::Tenant(key) => task_key == Some(key.id.as_str()),
        }
    }
}

/// The `Caller` that `auth` put in the request. Its absence is a bug (a
/// route outside the authenticating middleware), answered 500, never a
/// silent admin.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(ApiErrorCode::Internal, "the request was not authenticated")
                .with_detail("a route without the authentication middleware")
        })
    }
}

/// A new key: the prefix and 256 random bits in hex.
pub(crate) fn generate_key() -> String {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{KEY_PREFIX}{hex}")
}

/// What the store keeps of a key: its SHA-256, lowercase hex. A fast hash
/// suffices for 256 random bits (nothing to guess from a dictionary), and
/// every request pays it.
pub(crate) fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// OpenAI's rate-limit headers for a key's minute: only for the limits the
/// key has.
pub(crate) fn ratelimit_headers(window: &Window, now_ms: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let reset = format!(
        "{}s",
        u64::try_from(window.resets_at_ms - now_ms)
            .unwrap_or(0)
            .div_ceil(1000)
    );
    let mut put = |kind: &str, limit: u64, used: i64| {
        let remaining = limit.saturating_sub(u64::try_from(used).unwrap_or(0));
        for (name, value) in [
            (format!("x-ratelimit-limit-{kind}"), limit.to_string()),
            (
                format!("x-ratelimit-remaining-{kind}"),
                remaining.to_string(),
            ),
            (format!("x-ratelimit-reset-{kind}"), reset.clone()),
        ] {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::from_str(&value))
            {
                headers.insert(name, value);
            }
        }
    };
    if let Some(rpm) = window.rpm {
        put("requests", u64::from(rpm), window.requests);
    }
    if let Some(tpm) = window.tpm {
        put("tokens", tpm, window.tokens);
    }
    headers
}

/// The answer to a refused admission.
pub(crate) fn refusal(limit: Limit, window: &Window) -> ApiError {
    let now = llmhost_store::now_ms();
    let until_window_ends = u64::try_from(window.resets_at_ms - now).unwrap_or(0).max(1);
    let headers = ratelimit_headers(window, now);
    let limited = |message: String, wait: u64| {
        ApiError::new(ApiErrorCode::RateLimitExceeded, message)
            .with_retry_after(wait)
            .with_headers(headers.clone())
    };
    match limit {
        Limit::Revoked => ApiError::new(ApiErrorCode::Unauthorized, "this API key was revoked"),
        Limit::Requests { limit } => limited(
            format!("this API key's limit of {limit} requests per minute is reached"),
            until_window_ends,
        ),
        Limit::Tokens { limit } => limited(
            format!("this API key's limit of {limit} tokens per minute is reached"),
            until_window_ends,
        ),
        // A task or call ends at no time anyone knows: a second is a
        // polite first wait.
        Limit::Parallel { limit } => limited(
            format!("this API key's {limit} requests in flight are all running"),
            1000,
        ),
        Limit::Budget {
            budget_nanousd,
            spent_nanousd,
            resets_at_ms,
        } => {
            let mut message = format!(
                "this API key spent ${} of its ${} budget",
                usd(spent_nanousd),
                usd(budget_nanousd)
            );
            let mut error = ApiError::new(ApiErrorCode::BudgetExceeded, String::new());
            match resets_at_ms {
                Some(at) => {
                    let wait = u64::try_from(at - now).unwrap_or(0).max(1);
                    message.push_str(&format!(
                        "; it opens again when the period ends, in {}",
                        crate::api::keys::period_text(Duration::from_millis(wait))
                    ));
                    error = error.with_retry_after(wait);
                }
                None => message.push_str("; the budget has no period: raise it to go on"),
            }
            error.with_message(message)
        }
    }
}

/// Nano-dollars as dollars, to the cent's hundredth where it matters.
pub(crate) fn usd(nanousd: i64) -> String {
    let text = format!("{:.6}", nanousd as f64 / 1e9);
    let text = text.trim_end_matches('0');
    let text = text.strip_suffix('.').unwrap_or(text);
    text.to_owned()
}

/// An admitted `/v1` call: what its response carries.
pub(crate) struct AdmittedCall {
    /// The call as the store counts it: its usage names it.
    pub(crate) id: String,
    guard: CallGuard,
    headers: HeaderMap,
}

/// Admits a tenant's `/v1` call against its key's limits (nothing for an
/// admin), reserving `reserve` tokens (`reservation`); the call counts in
/// flight until its response is sent.
pub(crate) async fn admit_call(
    state: &AppState,
    caller: &Caller,
    reserve: u64,
) -> Result<Option<AdmittedCall>, ApiError> {
    let Some(key_id) = caller.key_id() else {
        return Ok(None);
    };
    let id = format!("call-{:032x}", rand::random::<u128>());
    // A call outlives its deadline only by the time to send the answer.
    let deadline = state.config.call_deadline + Duration::from_secs(60);
    match state
        .store
        .admit_call(key_id, &id, deadline, reserve)
        .await?
    {
        Admission::Admitted((), window) => Ok(Some(AdmittedCall {
            guard: CallGuard::new(state.store.clone(), id.clone()),
            id,
            headers: ratelimit_headers(&window, llmhost_store::now_ms()),
        })),
        Admission::Refused(limit, window) => Err(refusal(limit, &window)),
    }
}

/// The response of an admitted call, with its rate-limit headers; a stream
/// keeps the call in flight until it ends (or its client goes away).
pub(crate) fn answer(response: Response, admitted: Option<AdmittedCall>) -> Response {
    let Some(AdmittedCall { guard, headers, .. }) = admitted else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    parts.headers.extend(headers);
    let streamed = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streamed {
        return Response::from_parts(parts, body);
    }
    let body = body.into_data_stream().map(move |chunk| {
        let _in_flight = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// Keeps a `/v1` call counted in flight for its key until dropped (when the
/// answer, or the stream, has been sent or abandoned).
pub(crate) struct CallGuard {
    store: Store,
    id: String,
}

impl CallGuard {
    pub(crate) fn new(store: Store, id: String) -> Self {
        Self { store, id }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let store = self.store.clone();
        let id = std::mem::take(&mut self.id);
        tokio::spawn(async move {
            if let Err(err) = store.end_call(&id).await {
                // Left to expire at its deadline.
                tracing::warn!("a finished /v1 call could not be uncounted: {err}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_long_random_and_hashed_to_hex() {
        let key = generate_key();
        assert!(key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 64);
        assert_ne!(key, generate_key());
        let hash = key_hash(&key);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, key_hash(&generate_key()));
    }

    #[test]
    fn dollars_are_written_without_trailing_zeros() {
        assert_eq!(usd(10_000_000), "0.01");
        assert_eq!(usd(50_000_000_000), "50");
        assert_eq!(usd(1_234_000), "0.001234");
    }
}
