//! The Embeddings API (`POST {base_url}/embeddings`): the inputs as one
//! batch, floats asked for, `dimensions` and `user` when given; the answer's
//! vectors put back in the inputs' order by their `index`.

use llmhost_plugin_sdk::embeddings_types::{EmbeddingsRequest, EmbeddingsResponse};
use llmhost_plugin_sdk::types::ProviderError;
use llmhost_plugin_sdk::{errors, json, shared};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::wire::VENDOR;

/// The request body.
pub fn request_body(request: &EmbeddingsRequest) -> Result<Vec<u8>, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("input".into(), json!(request.inputs));
    body.insert("encoding_format".into(), json!("float"));
    if let Some(dimensions) = request.dimensions {
        body.insert("dimensions".into(), json!(dimensions));
    }
    if let Some(user) = &request.user {
        body.insert("user".into(), json!(user));
    }
    json::merge_options(VENDOR, &mut body, request.provider_options.as_deref())?;
    Ok(serde_json::to_vec(&Value::Object(body)).expect("JSON"))
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Embedding>,
    model: Option<String>,
    usage: Option<EmbeddingsUsage>,
}

#[derive(Deserialize)]
struct Embedding {
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct EmbeddingsUsage {
    prompt_tokens: Option<u64>,
}

/// A whole 2xx answer.
pub fn parse(
    request: &EmbeddingsRequest,
    body: &[u8],
) -> Result<EmbeddingsResponse, ProviderError> {
    let mut answer: Answer =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    // Without indexes the data are in the inputs' order already.
    answer.data.sort_by_key(|e| e.index.unwrap_or(0));
    Ok(EmbeddingsResponse {
        vectors: answer.data.into_iter().map(|e| e.embedding).collect(),
        model: answer
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| request.model.clone()),
        input_tokens: answer
            .usage
            .and_then(|u| u.prompt_tokens)
            .map(shared::count),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> EmbeddingsRequest {
        EmbeddingsRequest {
            model: "text-embedding-3-small".into(),
            inputs: vec!["a".into(), "b".into()],
            dimensions: Some(2),
            user: Some("u".into()),
            provider_options: None,
        }
    }

    #[test]
    fn the_batch_asks_for_floats_and_dimensions_and_answers_in_input_order() {
        let body: Value = serde_json::from_slice(&request_body(&request()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"model": "text-embedding-3-small", "input": ["a", "b"],
                   "encoding_format": "float", "dimensions": 2, "user": "u"})
        );
        let answer = br#"{"object": "list", "data": [
            {"object": "embedding", "index": 1, "embedding": [0.5, 0.25]},
            {"object": "embedding", "index": 0, "embedding": [1.0, -1.0]}],
            "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2}}"#;
        let parsed = parse(&request(), answer).unwrap();
        assert_eq!(parsed.vectors, vec![vec![1.0, -1.0], vec![0.5, 0.25]]);
        assert_eq!(parsed.input_tokens, Some(2));
    }
}
