//! Embeddings (`POST {base_url}/api/embed`): the inputs as one batch,
//! `dimensions` when given; `embeddings` come in the inputs' order with the
//! prompt's token count.

use llmhost_plugin_sdk::embeddings_types::{EmbeddingsRequest, EmbeddingsResponse};
use llmhost_plugin_sdk::types::ProviderError;
use llmhost_plugin_sdk::{errors, json, shared};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::wire::VENDOR;

/// The request body.
pub fn request_body(request: &EmbeddingsRequest) -> Result<Vec<u8>, ProviderError> {
    if request.user.is_some() {
        return Err(ProviderError::Unsupported(format!("{VENDOR}: user")));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("input".into(), json!(request.inputs));
    if let Some(dimensions) = request.dimensions {
        body.insert("dimensions".into(), json!(dimensions));
    }
    json::merge_options(VENDOR, &mut body, request.provider_options.as_deref())?;
    Ok(serde_json::to_vec(&Value::Object(body)).expect("JSON"))
}

#[derive(Deserialize)]
struct Answer {
    model: Option<String>,
    embeddings: Vec<Vec<f32>>,
    prompt_eval_count: Option<u64>,
}

/// A whole 2xx answer.
pub fn parse(
    request: &EmbeddingsRequest,
    body: &[u8],
) -> Result<EmbeddingsResponse, ProviderError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    Ok(EmbeddingsResponse {
        vectors: answer.embeddings,
        model: answer
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| request.model.clone()),
        input_tokens: answer.prompt_eval_count.map(shared::count),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_and_its_vectors() {
        let request = EmbeddingsRequest {
            model: "all-minilm".into(),
            inputs: vec!["a".into(), "b".into()],
            dimensions: Some(2),
            user: None,
            provider_options: Some(r#"{"truncate": false}"#.into()),
        };
        let body: Value = serde_json::from_slice(&request_body(&request).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"model": "all-minilm", "input": ["a", "b"], "dimensions": 2, "truncate": false})
        );
        let answer = parse(
            &request,
            br#"{"model": "all-minilm", "embeddings": [[0.1, 0.2], [0.3, 0.4]], "prompt_eval_count": 4}"#,
        )
        .unwrap();
        assert_eq!(answer.vectors.len(), 2);
        assert_eq!(answer.input_tokens, Some(4));
    }
}
