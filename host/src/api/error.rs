//! The API's one error type, rendered two ways: the REST shape
//! `{"error": {"code", "message"}}` and, on `/v1`, OpenAI's
//! `{"error": {"message", "type", "param", "code"}}`. `ApiErrorCode` is the
//! one list of the API's own errors (code and HTTP status); a task's failure
//! keeps its `ErrorCode` and the status of the error table. Client mistakes
//! are 4xx naming the problem; server faults are a terse 5xx.
//!
//! Building an error has no side effect: the response carries it in its
//! extensions and `observe::log_errors` logs what the operator must see.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use llmhost_store::StoreError;
use llmhost_store::error_code::ErrorCode;
use llmhost_store::task::TaskError;

/// Every error the API itself answers with: its stable `code` and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiErrorCode {
    /// Well-formed JSON that is not a valid request.
    InvalidRequest,
    MalformedJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    /// A body that could not be read.
    BadRequest,
    InvalidQuery,
    InvalidPath,
    InvalidIdempotencyKey,
    IdempotencyKeyConflict,
    TaskNotFound,
    TaskFinished,
    /// No such route.
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    /// A tenant key on a route for admin tokens only.
    Forbidden,
    /// A tenant key asked for a model (or route) outside its scope.
    ModelNotAllowed,
    KeyNotFound,
    /// A revoked key cannot be changed.
    KeyRevoked,
    /// A tenant key over its rpm, tpm or max_parallel.
    RateLimitExceeded,
    /// A tenant key spent its budget for the period.
    BudgetExceeded,
    PluginLoadFailed,
    /// A reloaded configuration file that cannot be used: the one in force
    /// keeps serving.
    InvalidConfiguration,
    ReloadFailed,
    /// The store cannot commit now (down, unreachable, disk full, past
    /// its deadline): retry later.
    StoreUnavailable,
    /// `/readyz`: this process cannot serve tasks yet (see its message).
    NotReady,
    /// A connection over the server's connection limit, refused at once.
    TooManyConnections,
    Internal,
}

/// How long a client is asked to wait before retrying after a store
/// outage: about as long as the store takes to notice it has recovered.
pub(crate) const STORE_RETRY_AFTER_MS: u64 = 1000;

impl ApiErrorCode {
    /// The table: the code, the status, whether OpenAI's format calls it
    /// `invalid_request` (its one code for a request it cannot use), and
    /// whether the same request may succeed later (`x-should-retry`).
    const fn spec(self) -> (&'static str, StatusCode, bool, bool) {
        use StatusCode as S;
        match self {
            Self::InvalidRequest => ("invalid_request", S::UNPROCESSABLE_ENTITY, true, false),
            Self::MalformedJson => ("malformed_json", S::BAD_REQUEST, true, false),
            Self::UnsupportedMediaType => (
                "unsupported_media_type",
                S::UNSUPPORTED_MEDIA_TYPE,
                true,
                false,
            ),
            Self::PayloadTooLarge => ("payload_too_large", S::PAYLOAD_TOO_LARGE, true, false),
            Self::BadRequest => ("bad_request", S::BAD_REQUEST, true, false),
            Self::InvalidQuery => ("invalid_query", S::BAD_REQUEST, false, false),
            Self::InvalidPath => ("invalid_path", S::BAD_REQUEST, false, false),
            Self::InvalidIdempotencyKey => {
                ("invalid_idempotency_key", S::BAD_REQUEST, false, false)
            }
            Self::IdempotencyKeyConflict => ("idempotency_key_conflict", S::CONFLICT, false, false),
            Self::TaskNotFound => ("task_not_found", S::NOT_FOUND, false, false),
            Self::TaskFinished => ("task_finished", S::CONFLICT, false, false),
            Self::NotFound => ("not_found", S::NOT_FOUND, false, false),
            Self::MethodNotAllowed => ("method_not_allowed", S::METHOD_NOT_ALLOWED, false, false),
            Self::Unauthorized => ("unauthorized", S::UNAUTHORIZED, false, false),
            Self::Forbidden => ("forbidden", S::FORBIDDEN, false, false),
            Self::ModelNotAllowed => ("model_not_allowed", S::FORBIDDEN, false, false),
            Self::KeyNotFound => ("key_not_found", S::NOT_FOUND, false, false),
            Self::KeyRevoked => ("key_revoked", S::CONFLICT, false, false),
            Self::RateLimitExceeded => ("rate_limit_exceeded", S::TOO_MANY_REQUESTS, false, true),
            // Retried by hand after the period, not by an SDK's backoff.
            Self::BudgetExceeded => ("budget_exceeded", S::TOO_MANY_REQUESTS, false, false),
            Self::PluginLoadFailed => ("plugin_load_failed", S::UNPROCESSABLE_ENTITY, false, false),
            Self::InvalidConfiguration => (
                "invalid_configuration",
                S::UNPROCESSABLE_ENTITY,
                false,
                false,
            ),
            Self::ReloadFailed => ("reload_failed", S::INTERNAL_SERVER_ERROR, false, false),
            Self::StoreUnavailable => ("store_unavailable", S::SERVICE_UNAVAILABLE, false, true),
            Self::NotReady => ("not_ready", S::SERVICE_UNAVAILABLE, false, true),
            Self::TooManyConnections => {
                ("too_many_connections", S::SERVICE_UNAVAILABLE, false, true)
            }
            Self::Internal => ("internal", S::INTERNAL_SERVER_ERROR, false, false),
        }
    }

    pub(crate) const fn as_str(self) -> &'static str {
        self.spec().0
    }

    pub(crate) const fn status(self) -> StatusCode {
        self.spec().1
    }

    const fn retryable(self) -> bool {
        self.spec().3
    }
}

/// Which list an error's code comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    Api(ApiErrorCode),
    /// A task's failure (a provider's typed error or the host's), answered
    /// by the synchronous endpoint.
    Task(ErrorCode),
}

/// How an error response is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Rest,
    OpenAi,
}

#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    code: Code,
    message: String,
    /// How long the client should wait before retrying (`Retry-After` in
    /// seconds, rounded up, and `retry-after-ms` exactly): the upstream's
    /// for `rate_limited`, ours for `store_unavailable`.
    retry_after_ms: Option<u64>,
    /// What the log says and the client is not told (a store error's text).
    detail: Option<String>,
    /// The request field at fault, when one is (OpenAI's `param`).
    param: Option<String>,
    /// The field asks for what the model does not declare: OpenAI's code
    /// `unsupported_parameter` (REST keeps `invalid_request`).
    unsupported: bool,
    /// Headers of its own (a tenant's `x-ratelimit-*`).
    headers: Option<Box<HeaderMap>>,
}

/// The body of every REST error response.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// A stable, machine-readable code, e.g. `invalid_request`, `task_not_found`.
    pub(crate) code: String,
    /// What went wrong, for people.
    pub(crate) message: String,
    /// The request field at fault, when one is (e.g. `tools`,
    /// `params.seed`, `messages[1].content[0]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) param: Option<String>,
}

impl ApiError {
    pub(crate) fn new(code: ApiErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: Code::Api(code),
            message: message.into(),
            retry_after_ms: None,
            detail: None,
            param: None,
            unsupported: false,
            headers: None,
        }
    }

    /// Waits `ms` before a retry (`Retry-After`, `retry-after-ms`).
    pub(crate) fn with_retry_after(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }

    /// Names the request field at fault (OpenAI's `param`).
    pub(crate) fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Replaces the message.
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Answers these headers too.
    pub(crate) fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Some(Box::new(headers));
        self
    }

    /// A request the chosen model cannot take (`capability`), naming the
    /// field: `/v1` as OpenAI does (`param`), the task API as its own.
    pub(crate) fn refused(refusal: crate::capability::Refusal, format: Format) -> Self {
        let param = match format {
            Format::Rest => refusal.task_param(),
            Format::OpenAi => refusal.param.clone(),
        };
        let mut error = Self::invalid(format!("{param}: {}", refusal.message));
        error.param = Some(param);
        error.unsupported = refusal.unsupported;
        error
    }

    /// A request that is well-formed JSON but not a valid one.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ApiErrorCode::InvalidRequest, message)
    }

    pub(crate) fn task_not_found(task_id: &str) -> Self {
        Self::new(
            ApiErrorCode::TaskNotFound,
            format!("no task with id {task_id:?}"),
        )
    }

    /// A server fault: the client gets `message`, the log also `detail`.
    pub(crate) fn with_detail(mut self, detail: impl std::fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self.code {
            Code::Api(code) => code.status(),
            Code::Task(code) => StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn code(&self) -> &'static str {
        match self.code {
            Code::Api(code) => code.as_str(),
            Code::Task(code) => code.as_str(),
        }
    }

    /// Whether the same request may succeed later: the error table's
    /// answer for a task's failure, the API's table for its own.
    fn retryable(&self) -> bool {
        match self.code {
            Code::Api(code) => code.retryable(),
            Code::Task(code) => code.retryable(),
        }
    }

    /// The headers a client's retry logic reads: `x-should-retry` (which
    /// the official OpenAI and Anthropic SDKs obey over the status), and
    /// the wait in `Retry-After` (whole seconds) and `retry-after-ms`.
    fn retry_headers(&self, headers: &mut HeaderMap) {
        let should = HeaderValue::from_static(if self.retryable() { "true" } else { "false" });
        headers.insert("x-should-retry", should);
        if let Some(ms) = self.retry_after_ms {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000)));
            headers.insert("retry-after-ms", HeaderValue::from(ms));
        }
    }

    /// The response, in REST's or OpenAI's shape. The error itself rides
    /// along in the extensions, for `observe::log_errors`.
    pub(crate) fn render(self, format: Format) -> Response {
        let status = match format {
            Format::Rest => self.status(),
            Format::OpenAi => openai_status(self.status()),
        };
        let mut response = (status, axum::Json(self.body(format))).into_response();
        self.retry_headers(response.headers_mut());
        if let Some(headers) = &self.headers {
            response.headers_mut().extend((**headers).clone());
        }
        response.extensions_mut().insert(self);
        response
    }

    /// The JSON body; in OpenAI's shape it is also the last event of a
    /// stream that fails.
    pub(crate) fn body(&self, format: Format) -> serde_json::Value {
        match format {
            Format::Rest => json!(ErrorBody {
                error: ErrorDetail {
                    code: self.code().to_owned(),
                    message: self.message.clone(),
                    param: self.param.clone(),
                },
            }),
            Format::OpenAi => {
                let code = match self.code {
                    _ if self.unsupported => "unsupported_parameter",
                    Code::Api(code) if code.spec().2 => "invalid_request",
                    _ => self.code(),
                };
                let status = openai_status(self.status());
                json!({
                    "error": { "message": self.message, "type": openai_type(status), "param": self.param, "code": code }
                })
            }
        }
    }

    /// Logs what the operator must know: server faults, and a provider call
    /// that failed on the server's side. A client's mistake is not logged.
    pub(crate) fn log(&self) {
        if !self.status().is_server_error() {
            return;
        }
        // A provider's message is the plugin's text: escaped, so that it
        // cannot forge or split a log line.
        let detail =
            llmhost_runtime::escape::Escaped(self.detail.as_deref().unwrap_or(&self.message));
        match self.code {
            Code::Task(code) => {
                tracing::warn!(error_code = %code, "synchronous call failed: {detail}");
            }
            Code::Api(code) => tracing::error!(code = code.as_str(), "{detail}"),
        }
    }
}

/// OpenAI's API answers 400 to a request it cannot use, where REST says 422.
fn openai_status(status: StatusCode) -> StatusCode {
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    }
}

/// OpenAI's error `type` for a status.
fn openai_type(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::FORBIDDEN => "permission_error",
        StatusCode::NOT_FOUND => "not_found_error",
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
        s if s.is_client_error() => "invalid_request_error",
        _ => "api_error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render(Format::Rest)
    }
}

/// A provider's or the host's typed failure, through the error table.
impl From<TaskError> for ApiError {
    fn from(error: TaskError) -> Self {
        Self {
            retry_after_ms: (error.code == ErrorCode::RateLimited)
                .then_some(error.retry_after_ms)
                .flatten(),
            code: Code::Task(error.code),
            message: error.message,
            detail: None,
            param: None,
            unsupported: false,
            headers: None,
        }
    }
}

/// An outage (see `StoreError::outage`) is a `503 store_unavailable` that
/// names its kind and asks the client to come back; anything else is a
/// bug, a terse `500`. The error's own text goes to the log only.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err.outage() {
            Some(outage) => {
                let mut message =
                    format!("the task store cannot serve now ({outage}); retry later");
                if err.may_have_committed() {
                    message.push_str(
                        "; a write sent before the database stopped answering may have been \
                         stored: retry a submission with the same Idempotency-Key",
                    );
                }
                let mut error = Self::new(ApiErrorCode::StoreUnavailable, message);
                error.retry_after_ms = Some(STORE_RETRY_AFTER_MS);
                error.with_detail(format_args!("store unavailable ({outage}): {err}"))
            }
            None => Self::new(
                ApiErrorCode::Internal,
                "the task store failed; see the server log",
            )
            .with_detail(format_args!("store error: {err}")),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::JsonDataError(_) => ApiErrorCode::InvalidRequest,
            JsonRejection::JsonSyntaxError(_) => ApiErrorCode::MalformedJson,
            JsonRejection::MissingJsonContentType(_) => ApiErrorCode::UnsupportedMediaType,
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiErrorCode::PayloadTooLarge
            }
            _ => ApiErrorCode::BadRequest,
        };
        Self::new(code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(ApiErrorCode::InvalidQuery, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(ApiErrorCode::InvalidPath, rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rest_invalid_request_is_422_and_openai_says_400_with_the_same_code() {
        let error = ApiError::invalid("messages: must hold at least one message");
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.body(Format::Rest)["error"]["code"], "invalid_request");
        let openai = error.clone().render(Format::OpenAi);
        assert_eq!(openai.status(), StatusCode::BAD_REQUEST);
        let body = error.body(Format::OpenAi);
        assert_eq!(body["error"]["code"], "invalid_request");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn openai_names_every_unusable_body_invalid_request_and_keeps_its_status() {
        let error = ApiError::new(ApiErrorCode::UnsupportedMediaType, "not JSON");
        assert_eq!(
            error.body(Format::Rest)["error"]["code"],
            "unsupported_media_type"
        );
        assert_eq!(
            error.body(Format::OpenAi)["error"]["code"],
            "invalid_request"
        );
        assert_eq!(
            error.render(Format::OpenAi).status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn a_task_failure_keeps_the_error_tables_status_code_and_retry_after() {
        let mut failure = TaskError::new(ErrorCode::RateLimited, "slow down");
        failure.retry_after_ms = Some(1500);
        let response = ApiError::from(failure).render(Format::OpenAi);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()["retry-after-ms"], "1500");
        assert_eq!(response.headers()["x-should-retry"], "true");
    }

    #[test]
    fn a_wait_under_a_second_keeps_its_milliseconds_beside_the_rounded_up_seconds() {
        let mut failure = TaskError::new(ErrorCode::RateLimited, "slow down");
        failure.retry_after_ms = Some(100);
        let response = ApiError::from(failure).render(Format::Rest);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()["retry-after-ms"], "100");
    }

    #[test]
    fn a_failure_a_retry_would_repeat_tells_sdks_not_to_retry() {
        for (error, should) in [
            (
                ApiError::from(TaskError::new(ErrorCode::Authentication, "bad key")),
                "false",
            ),
            (
                ApiError::from(TaskError::new(ErrorCode::PluginTrap, "panicked")),
                "false",
            ),
            (
                ApiError::from(TaskError::new(ErrorCode::UpstreamUnavailable, "503")),
                "true",
            ),
            (
                ApiError::new(ApiErrorCode::IdempotencyKeyConflict, "other request"),
                "false",
            ),
            (ApiError::new(ApiErrorCode::Internal, "bug"), "false"),
        ] {
            for format in [Format::Rest, Format::OpenAi] {
                let response = error.clone().render(format);
                assert_eq!(response.headers()["x-should-retry"], should, "{error:?}");
                assert!(!response.headers().contains_key(header::RETRY_AFTER));
            }
        }
    }

    fn error_message(err: StoreError) -> String {
        ApiError::from(err).message
    }

    #[test]
    fn a_store_outage_is_503_store_unavailable_naming_it_with_retry_after() {
        let full = StoreError::Io(std::io::Error::from(std::io::ErrorKind::StorageFull));
        let error = ApiError::from(full);
        let body = error.body(Format::Rest);
        assert_eq!(body["error"]["code"], "store_unavailable");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("disk is full"), "{message}");
        let response = error.render(Format::Rest);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()["retry-after-ms"], "1000");
        assert_eq!(response.headers()["x-should-retry"], "true");
        let late = ApiError::from(StoreError::Timeout {
            after: std::time::Duration::from_secs(5),
        });
        assert_eq!(late.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            late.message.contains("may have been stored")
                && late.message.contains("Idempotency-Key"),
            "{}",
            late.message
        );
        let refused = StoreError::Unavailable(llmhost_store::Outage::Timeout);
        assert!(!error_message(refused).contains("may have"));
    }

    #[test]
    fn a_store_failure_tells_the_client_nothing_of_the_cause() {
        let error = ApiError::from(StoreError::WriterStopped);
        let body = error.body(Format::Rest).to_string();
        assert!(!body.contains("batcher"), "{body}");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(error.detail.unwrap().contains("batcher"));
    }
}
