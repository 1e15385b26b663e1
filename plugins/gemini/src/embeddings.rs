//! Embeddings (`POST {base_url}/models/{model}:batchEmbedContents`): one
//! `EmbedContentRequest` per input, each with `outputDimensionality` when
//! `dimensions` is given and the provider options (e.g. `taskType`) merged
//! in; the answer's `embeddings[].values` come in the inputs' order. The
//! API reports no token counts.

use llmhost_plugin_sdk::embeddings_types::{EmbeddingsRequest, EmbeddingsResponse};
use llmhost_plugin_sdk::types::ProviderError;
use llmhost_plugin_sdk::{errors, json};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::wire::{VENDOR, model_path};

/// The request body.
pub fn request_body(request: &EmbeddingsRequest) -> Result<Vec<u8>, ProviderError> {
    if request.user.is_some() {
        return Err(ProviderError::Unsupported(format!("{VENDOR}: user")));
    }
    let model = format!("models/{}", model_path(&request.model)?);
    let requests = request
        .inputs
        .iter()
        .map(|input| {
            let mut one = Map::new();
            one.insert("model".into(), json!(model));
            one.insert("content".into(), json!({"parts": [{"text": input}]}));
            if let Some(dimensions) = request.dimensions {
                one.insert("outputDimensionality".into(), json!(dimensions));
            }
            json::merge_options(VENDOR, &mut one, request.provider_options.as_deref())?;
            Ok(Value::Object(one))
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    Ok(serde_json::to_vec(&json!({"requests": requests})).expect("JSON"))
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    embeddings: Vec<Embedding>,
}

#[derive(Deserialize)]
struct Embedding {
    values: Vec<f32>,
}

/// A whole 2xx answer.
pub fn parse(
    request: &EmbeddingsRequest,
    body: &[u8],
) -> Result<EmbeddingsResponse, ProviderError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| errors::malformed(VENDOR, e, body))?;
    Ok(EmbeddingsResponse {
        vectors: answer.embeddings.into_iter().map(|e| e.values).collect(),
        model: request.model.clone(),
        input_tokens: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_input_is_one_request_and_the_values_come_back_in_order() {
        let request = EmbeddingsRequest {
            model: "gemini-embedding-001".into(),
            inputs: vec!["a".into(), "b".into()],
            dimensions: Some(3),
            user: None,
            provider_options: Some(r#"{"taskType": "RETRIEVAL_QUERY"}"#.into()),
        };
        let body: Value = serde_json::from_slice(&request_body(&request).unwrap()).unwrap();
        assert_eq!(
            body["requests"][1],
            json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]},
                   "outputDimensionality": 3, "taskType": "RETRIEVAL_QUERY"})
        );
        let answer = parse(
            &request,
            br#"{"embeddings": [{"values": [1, 2, 3]}, {"values": [4, 5, 6]}]}"#,
        )
        .unwrap();
        assert_eq!(
            answer.vectors,
            vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]
        );
    }
}
