//! Errors of the OpenAI-compatible endpoints, in OpenAI's shape:
//! `{"error": {"message", "type", "param", "code"}}`. The HTTP status of a
//! provider failure comes from the one error table (`error_code`).

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use llmhost_store::error_code::ErrorCode;
use llmhost_store::task::TaskError;

#[derive(Debug)]
pub(crate) struct OpenAiError {
    status: StatusCode,
    code: String,
    message: String,
    retry_after_ms: Option<u64>,
}

impl OpenAiError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A provider's or the host's typed failure, through the error table.
    pub(crate) fn from_task_error(error: TaskError) -> Self {
        let status = StatusCode::from_u16(error.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error_code = %error.code, "synchronous call failed: {}", error.message);
        }
        Self {
            status,
            code: error.code.as_str().to_owned(),
            message: error.message,
            retry_after_ms: (error.code == ErrorCode::RateLimited)
                .then_some(error.retry_after_ms)
                .flatten(),
        }
    }

    /// The JSON body, also sent as the last event of a stream that fails.
    pub(crate) fn body(&self) -> serde_json::Value {
        json!({
            "error": { "message": self.message, "type": self.kind(), "param": null, "code": self.code }
        })
    }

    /// OpenAI's error `type` for a status.
    fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            s if s.is_client_error() => "invalid_request_error",
            _ => "api_error",
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(ms) = self.retry_after_ms {
            let seconds = ms.div_ceil(1000).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<JsonRejection> for OpenAiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        // Missing or mistyped fields are a 400 in OpenAI's API.
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        Self::new(status, "invalid_request", rejection.body_text())
    }
}
