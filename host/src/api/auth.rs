//! Bearer-token authentication of the API. With no token configured it lets
//! everything through; with any, every request but the probes (`/healthz`,
//! `/readyz`) must carry
//! `Authorization: Bearer <token>`. Tokens are compared in constant time and
//! never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ApiErrorCode};
use crate::secret::Secret;

/// Paths that answer without a token: load balancers probe them.
const PUBLIC_PATHS: [&str; 2] = ["/healthz", "/readyz"];

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

/// The middleware: 401 with our error body unless the request is allowed.
pub(crate) async fn require_token(
    State(tokens): State<Tokens>,
    request: Request,
    next: Next,
) -> Response {
    if !tokens.is_enabled() || PUBLIC_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    match bearer(request.headers().get(header::AUTHORIZATION)) {
        Some(token) if tokens.accepts(token) => next.run(request).await,
        Some(_) => unauthorized("the bearer token is not valid"),
        None => unauthorized("this server requires `Authorization: Bearer <token>`"),
    }
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
    fn the_bearer_scheme_is_case_insensitive_and_required() {
        let header = |v: &'static str| HeaderValue::from_static(v);
        assert_eq!(bearer(Some(&header("Bearer abc"))), Some("abc"));
        assert_eq!(bearer(Some(&header("bearer abc"))), Some("abc"));
        assert_eq!(bearer(Some(&header("Basic abc"))), None);
        assert_eq!(bearer(Some(&header("Bearer "))), None);
        assert_eq!(bearer(None), None);
    }
}
