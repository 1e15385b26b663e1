//! The one error-mapping table: every way a task can fail, its `error_code`
//! string, the HTTP status the synchronous API answers with, and whether the
//! worker retries it. Nothing else in the host decides any of these.

use serde::{Deserialize, Serialize};

/// Why a task failed. Provider codes come from the WIT `provider-error`;
/// host codes are raised by the host itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // Reported by providers (the WIT `provider-error` cases).
    InvalidRequest,
    Authentication,
    PermissionDenied,
    ModelNotFound,
    RateLimited,
    ContextLengthExceeded,
    ContentFiltered,
    Timeout,
    UpstreamUnavailable,
    UpstreamError,
    Unsupported,
    // Raised by the host.
    ProviderNotFound,
    DeadlineExceeded,
    MemoryLimit,
    PluginTrap,
    OutputTooLarge,
    /// A per-call limit on what a plugin makes the host hold or do (log
    /// lines and bytes, host resources).
    ResourceLimit,
    /// The host had no room for the call (the provider's concurrent calls,
    /// or the runtime's instance pool, were all taken): nothing the plugin
    /// did wrong, and the next attempt may find room.
    CapacityExhausted,
    EgressDenied,
    Cancelled,
    LeaseExpired,
    Internal,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorSpec {
    /// The task's `error_code`.
    pub name: &'static str,
    /// What the synchronous endpoint answers with.
    pub http_status: u16,
    /// Whether a worker puts the task back to `pending` (attempts allowing).
    pub retryable: bool,
}

const fn spec(name: &'static str, http_status: u16, retryable: bool) -> ErrorSpec {
    ErrorSpec {
        name,
        http_status,
        retryable,
    }
}

impl ErrorCode {
    /// Every code, in table order.
    pub const ALL: [ErrorCode; 22] = [
        Self::InvalidRequest,
        Self::Authentication,
        Self::PermissionDenied,
        Self::ModelNotFound,
        Self::RateLimited,
        Self::ContextLengthExceeded,
        Self::ContentFiltered,
        Self::Timeout,
        Self::UpstreamUnavailable,
        Self::UpstreamError,
        Self::Unsupported,
        Self::ProviderNotFound,
        Self::DeadlineExceeded,
        Self::MemoryLimit,
        Self::PluginTrap,
        Self::OutputTooLarge,
        Self::ResourceLimit,
        Self::CapacityExhausted,
        Self::EgressDenied,
        Self::Cancelled,
        Self::LeaseExpired,
        Self::Internal,
    ];

    /// The table. Upstream trouble that may pass (rate limits, timeouts,
    /// outages) is retryable; anything a retry would repeat is not. Failures
    /// caused by the operator's setup (credentials, plugins) are 5xx on the
    /// synchronous endpoint, because the client cannot fix them.
    pub const fn spec(self) -> ErrorSpec {
        match self {
            Self::InvalidRequest => spec("invalid_request", 400, false),
            Self::Authentication => spec("authentication", 502, false),
            Self::PermissionDenied => spec("permission_denied", 502, false),
            Self::ModelNotFound => spec("model_not_found", 404, false),
            Self::RateLimited => spec("rate_limited", 429, true),
            Self::ContextLengthExceeded => spec("context_length_exceeded", 400, false),
            Self::ContentFiltered => spec("content_filtered", 400, false),
            Self::Timeout => spec("timeout", 504, true),
            Self::UpstreamUnavailable => spec("upstream_unavailable", 503, true),
            Self::UpstreamError => spec("upstream_error", 502, true),
            Self::Unsupported => spec("unsupported", 400, false),
            Self::ProviderNotFound => spec("provider_not_found", 404, false),
            Self::DeadlineExceeded => spec("deadline_exceeded", 504, false),
            Self::MemoryLimit => spec("memory_limit", 500, false),
            Self::PluginTrap => spec("plugin_trap", 500, false),
            Self::OutputTooLarge => spec("output_too_large", 502, false),
            Self::ResourceLimit => spec("resource_limit", 502, false),
            Self::CapacityExhausted => spec("capacity_exhausted", 503, true),
            Self::EgressDenied => spec("egress_denied", 502, false),
            Self::Cancelled => spec("cancelled", 409, false),
            Self::LeaseExpired => spec("lease_expired", 500, false),
            Self::Internal => spec("internal", 500, false),
        }
    }

    pub const fn as_str(self) -> &'static str {
        self.spec().name
    }

    pub const fn retryable(self) -> bool {
        self.spec().retryable
    }

    pub const fn http_status(self) -> u16 {
        self.spec().http_status
    }

    /// The code for an `error_code` string, as stored in the database.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == name)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_name_and_serde() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn only_transient_upstream_trouble_and_a_full_host_are_retried() {
        let retryable: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.retryable())
            .collect();
        assert_eq!(
            retryable,
            [
                ErrorCode::RateLimited,
                ErrorCode::Timeout,
                ErrorCode::UpstreamUnavailable,
                ErrorCode::UpstreamError,
                ErrorCode::CapacityExhausted,
            ]
        );
        assert!(!ErrorCode::ProviderNotFound.retryable());
    }
}
