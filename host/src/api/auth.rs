//! Bearer-token authentication of the API, and who the caller is
//! (`tenant::Caller`, put in the request for the handlers). Admin tokens
//! (`--auth-token`) may do everything; with none configured, anyone may. A
//! tenant's API key (`lhk_…`, looked up by its hash in the store on every
//! request, so a revoked key is refused at once on every process) may use
//! the task API and `/v1` only. Every request but the probes (`/healthz`,
//! `/readyz`) and the dashboard's static files (`/`, `/ui`, `/ui/…`: they
//! hold no data; the pages call the API with a token) is checked. Tokens are compared in constant time and never
//! logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ApiErrorCode};
use super::tenant::{Caller, KEY_PREFIX, key_hash};
use crate::secret::Secret;
use llmhost_store::Store;

/// Paths that answer without a token: load balancers probe them, and a
/// browser loads the dashboard (its login page asks for the token).
const PUBLIC_PATHS: [&str; 4] = ["/healthz", "/readyz", "/", "/ui"];

/// Whether `path` answers without a token.
fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path) || path.starts_with("/ui/")
}

/// The accepted tokens, kept as SHA-256 digests so that every comparison
/// takes the same time whatever the presented token's length.
#[derive(Clone)]
pub(crate) struct Tokens(Arc<[[u8; 32]]>);

impl Tokens {
    pub(crate) fn new(tokens: &[Secret]) -> Self {
        Self(tokens.iter().map(|t| digest(t.expose())).collect())
    }

    pub(crate) fn is_enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether `presented` is one of the tokens. Checks every token, never
    /// stopping at the first match, so the time says nothing of which.
    fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        let mut found = subtle::Choice::from(0);
        for token in self.0.iter() {
            found |= token[..].ct_eq(&presented[..]);
        }
        found.into()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What authentication needs: the admin tokens, and the store the keys
/// are in.
#[derive(Clone)]
pub(crate) struct Auth {
    pub(crate) tokens: Tokens,
    pub(crate) store: Store,
}

/// Paths a tenant key may use: the task API, the OpenAI-compatible one,
/// and its own usage.
fn tenant_may_use(path: &str) -> bool {
    path == "/api/v1/tasks"
        || path.starts_with("/api/v1/tasks/")
        || path.starts_with("/v1/")
        || path == "/api/v1/usage"
}

/// The middleware: 401 with our error body unless the request is allowed,
/// 403 for a tenant key outside the task API and `/v1`; otherwise the
/// request goes on carrying its `Caller`.
pub(crate) async fn require_token(
    State(auth): State<Auth>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let presented = bearer(request.headers().get(header::AUTHORIZATION));
    let caller = match presented {
        Some(token) if auth.tokens.is_enabled() && auth.tokens.accepts(token) => Caller::Admin,
        // Only a token shaped like a key costs a read of the store.
        Some(token) if token.starts_with(KEY_PREFIX) => {
            match auth.store.key_by_hash(&key_hash(token)).await {
                Ok(Some(key)) => Caller::Tenant(Arc::new(key)),
                Ok(None) => return unauthorized("the API key is not valid (unknown or revoked)"),
                Err(err) => return ApiError::from(err).into_response(),
            }
        }
        // Authentication off: whatever is sent (an SDK always sends some
        // token) may do everything, as before keys existed.
        _ if !auth.tokens.is_enabled() => Caller::Admin,
        Some(_) => return unauthorized("the bearer token is not valid"),
        None => return unauthorized("this server requires `Authorization: Bearer <token>`"),
    };
    if let Caller::Tenant(key) = &caller
        && !tenant_may_use(request.uri().path())
    {
        return ApiError::new(
            ApiErrorCode::Forbidden,
            format!(
                "{} needs an admin token; an API key ({}) may use /api/v1/tasks, /v1 and /api/v1/usage only",
                request.uri().path(),
                key.name
            ),
        )
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The token of an `Authorization: Bearer <token>` header (scheme
/// case-insensitive, as RFC 7235 says).
fn bearer(value: Option<&HeaderValue>) -> Option<&str> {
    let value = value?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(ApiErrorCode::Unauthorized, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configured_token_is_accepted() {
        let tokens = Tokens::new(&[
            Secret::new("first-token-0123456"),
            Secret::new("second-token-012345"),
        ]);
        assert!(tokens.accepts("first-token-0123456"));
        assert!(tokens.accepts("second-token-012345"));
        assert!(!tokens.accepts("first-token-012345"));
        assert!(!tokens.accepts(""));
    }

    #[test]
    fn a_tenant_key_may_use_the_task_api_and_v1_only() {
        for path in [
            "/api/v1/tasks",
            "/api/v1/tasks/x/cancel",
            "/v1/chat/completions",
        ] {
            assert!(tenant_may_use(path), "{path}");
        }
        for path in [
            "/api/v1/keys",
            "/api/v1/tasksx",
            "/metrics",
            "/api/v1/providers",
        ] {
            assert!(!tenant_may_use(path), "{path}");
        }
    }

    #[test]
    fn only_probes_and_dashboard_assets_are_public() {
        for path in ["/healthz", "/readyz", "/", "/ui", "/ui/app.js"] {
            assert!(is_public(path), "{path}");
        }
        for path in [
            "/api/v1/tasks",
            "/uix",
            "/v1/models",
            "/metrics",
            "/api/v1/overview",
        ] {
            assert!(!is_public(path), "{path}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_required() {
        let header = |v: &'static str| HeaderValue::from_static(v);
        assert_eq!(bearer(Some(&header("Bearer abc"))), Some("abc"));
        assert_eq!(bearer(Some(&header("bearer abc"))), Some("abc"));
        assert_eq!(bearer(Some(&header("Basic abc"))), None);
        assert_eq!(bearer(Some(&header("Bearer "))), None);
        assert_eq!(bearer(None), None);
    }
}
