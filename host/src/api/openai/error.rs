//! Errors of the OpenAI-compatible endpoints: the API's one error type
//! (`api::error`), rendered in OpenAI's shape
//! `{"error": {"message", "type", "param", "code"}}`. The HTTP status of a
//! provider failure comes from the one error table (`error_code`).

use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};

use crate::api::error::{ApiError, Format};
use llmhost_store::task::TaskError;

/// An `ApiError` answered in OpenAI's format.
#[derive(Debug)]
pub(crate) struct OpenAiError(pub(crate) ApiError);

impl OpenAiError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self(ApiError::invalid(message))
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        self.0.render(Format::OpenAi)
    }
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<TaskError> for OpenAiError {
    fn from(error: TaskError) -> Self {
        Self(error.into())
    }
}

impl From<JsonRejection> for OpenAiError {
    fn from(rejection: JsonRejection) -> Self {
        Self(rejection.into())
    }
}
