//! `echo-embed`: fixed embeddings, the same vector for the same text, of 8
//! dimensions or as many as asked (at most 4096), with each input's word
//! count as its tokens.

use crate::answer::count_words;
use crate::exports::llmhost::provider::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
use crate::llmhost::provider::types::ProviderError;

const DEFAULT_DIMENSIONS: u32 = 8;
const MAX_DIMENSIONS: u32 = 4096;

pub(crate) fn embed(request: EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
    if request.model != "echo-embed" {
        return Err(ProviderError::Unsupported(format!(
            "{} does not embed; echo-embed does",
            request.model
        )));
    }
    let dimensions = request.dimensions.unwrap_or(DEFAULT_DIMENSIONS);
    if !(1..=MAX_DIMENSIONS).contains(&dimensions) {
        return Err(ProviderError::InvalidRequest(format!(
            "dimensions must be 1 to {MAX_DIMENSIONS}, got {dimensions}"
        )));
    }
    Ok(EmbeddingsResponse {
        vectors: request
            .inputs
            .iter()
            .map(|text| vector(text, dimensions))
            .collect(),
        model: request.model,
        input_tokens: Some(count_words(request.inputs.iter().map(String::as_str))),
    })
}

/// Each component in [-1, 1), from an FNV-1a hash of the text and the
/// component's index.
fn vector(text: &str, dimensions: u32) -> Vec<f32> {
    (0..dimensions)
        .map(|i| {
            let mut hash: u32 = 0x811c_9dc5;
            for byte in text.bytes().chain(i.to_le_bytes()) {
                hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
            }
            (hash % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}
