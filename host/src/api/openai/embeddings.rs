//! `POST /v1/embeddings` in OpenAI's shape: `input` a string or a list of
//! strings, `encoding_format` `float` or `base64` (little-endian `f32`, as
//! the official SDKs decode it), `dimensions`, `user`. The model must
//! declare `embeddings` (and `user` to take one); token-array inputs and
//! unknown fields are refused naming them, before any call.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::OpenAiError;
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::api::error::{ApiError, Format};
use crate::api::extract::OpenAiJson;
use crate::api::reservation;
use crate::api::tenant::{self, Caller};
use crate::api::usage::Meter;
use crate::capability::{self, Refusal};
use crate::convert;
use llmhost_runtime::EmbeddingsRequest;
use llmhost_store::task::{TaskError, Usage};

#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingsBody {
    /// `<provider>/<model>`.
    model: String,
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default)]
    user: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Debug, Serialize)]
struct EmbeddingList {
    object: &'static str,
    data: Vec<Embedding>,
    model: String,
    usage: EmbeddingUsage,
}

#[derive(Debug, Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    /// A list of floats, or base64 of little-endian `f32`s.
    embedding: Value,
}

#[derive(Debug, Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u32,
    total_tokens: u32,
}

/// OpenAI-compatible embeddings; errors in OpenAI's format.
#[utoipa::path(
    post,
    path = "/v1/embeddings",
    tag = "openai",
    request_body(content = Object, description = "An OpenAI embeddings request; `model` is `<provider>/<model>`"),
    responses(
        (status = 200, description = "A list of embeddings", body = Object),
        (status = 400, description = "Not a valid request, or the model does not embed (OpenAI error format, `param` names the field)", body = Object),
        (status = 401, description = "Authentication is on and no valid token was sent", body = crate::api::error::ErrorBody),
        (status = 404, description = "Unknown provider (OpenAI error format)", body = Object),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn embeddings_create(
    State(state): State<AppState>,
    caller: Caller,
    OpenAiJson(body): OpenAiJson<EmbeddingsBody>,
) -> Result<Response, OpenAiError> {
    caller.check_scope(&body.model, "model")?;
    let reserve = match caller.key_id() {
        None => 0,
        Some(_) => reservation::embeddings(&body.input),
    };
    let admitted = tenant::admit_call(&state, &caller, reserve).await?;
    let meter = Meter::new(&state, &caller, admitted.as_ref(), None);
    let model = body.model.clone();
    let Json(answer) = embed(state, body, &meter).await?;
    let tokens = answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
    let usage = Usage {
        input_tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
        output_tokens: 0,
        cached_input_tokens: None,
        cache_write_input_tokens: None,
        reasoning_tokens: None,
        cost_nanousd: None,
    };
    meter.record(&model, Some(&usage)).await;
    Ok(tenant::answer(Json(answer).into_response(), admitted))
}

/// Embeddings for a caller allowed to ask for them.
async fn embed(
    state: AppState,
    body: EmbeddingsBody,
    meter: &Meter,
) -> Result<Json<Value>, OpenAiError> {
    let refused = |refusal| OpenAiError(ApiError::refused(refusal, Format::OpenAi));
    if let Some(field) = body.other.keys().next() {
        return Err(refused(Refusal::unsupported(
            field.clone(),
            format!("{field}: not an embeddings field llmhost knows"),
        )));
    }
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(refused(Refusal::unsupported(
                "encoding_format",
                format!("encoding_format {other:?}: float or base64"),
            )));
        }
    };
    let inputs = inputs(&body.input).map_err(refused)?;
    let (provider, model) = body
        .model
        .split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
        .ok_or_else(|| {
            OpenAiError::invalid(format!(
                "model: expected \"<provider>/<model>\", got {:?}",
                body.model
            ))
        })?;
    let Some(plugin) = state.runtime.get(provider) else {
        let error = TaskError::provider_not_found(provider, &state.runtime.names());
        return Err(error.into());
    };
    capability::check_embeddings(plugin.capabilities(model), body.user.is_some(), &body.model)
        .map_err(refused)?;
    let request = EmbeddingsRequest {
        model: model.to_owned(),
        inputs,
        dimensions: body.dimensions,
        user: body.user.clone(),
        provider_options: None,
    };
    let outcome = match plugin.embed(&request, state.config.call_deadline).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(error)) => Err(convert::provider_error(error)),
        Err(error) => Err(convert::call_error(error)),
    };
    let answer = match outcome {
        Ok(answer) => answer,
        Err(error) => {
            meter.record_failure(&body.model, &error).await;
            return Err(error.into());
        }
    };
    let tokens = answer.input_tokens.unwrap_or(0);
    let data = answer
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| Embedding {
            object: "embedding",
            index,
            embedding: if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                serde_json::json!(vector)
            },
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model: body.model.clone(),
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    };
    Ok(Json(
        serde_json::to_value(list).expect("embeddings serialise"),
    ))
}

/// A string or a non-empty list of strings; token arrays are refused.
fn inputs(input: &Value) -> Result<Vec<String>, Refusal> {
    let refuse = || {
        Refusal::unsupported(
            "input",
            "input must be a string or a non-empty list of strings (token arrays are not supported)",
        )
    };
    match input {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(refuse))
            .collect(),
        _ => Err(refuse()),
    }
}
