//! Extractors whose rejections are `ApiError`s, so that every bad request
//! gets the API's error shape: REST's for `ApiJson`/`ApiQuery`/`ApiPath`,
//! OpenAI's for `OpenAiJson`. Derived (axum's `FromRequest` macros), each is
//! the axum extractor it names with our rejection.

use axum::extract::{FromRequest, FromRequestParts, Path, Query};

use super::error::ApiError;
use super::openai::OpenAiError;

/// `Json<T>` with the REST error body.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub(crate) T);

/// `Query<T>` with the REST error body.
#[derive(FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub(crate) T);

/// `Path<T>` with the REST error body (a path segment that is not valid
/// UTF-8 after percent-decoding, for example).
#[derive(FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub(crate) T);

/// `Json<T>` with OpenAI's error body.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(OpenAiError))]
pub(crate) struct OpenAiJson<T>(pub(crate) T);
