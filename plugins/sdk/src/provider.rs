//! What a provider implements (`Provider`) and how it becomes the plugin's
//! exports (`export_provider!`): the generated bindings stay behind it, and
//! a provider writes only what it does differently from the defaults.

use crate::bindings::exports::llmhost::provider::embeddings::{
    EmbeddingsRequest, EmbeddingsResponse,
};
use crate::bindings::llmhost::provider::types::{Completion, ProviderError, ProviderInfo, Request};
use crate::stream::Stream;

/// A provider: the contract's `provider`, `streaming` and `embeddings`
/// interfaces as one trait with defaults. Every call runs in a fresh
/// instance, so these are associated functions: there is no state to keep.
pub trait Provider {
    /// Who the provider is and what each model can do. Called once at
    /// load, with no network; `name` must equal the plugin's file name.
    fn metadata() -> ProviderInfo;

    /// Answers one request whole.
    fn complete(request: Request) -> Result<Completion, ProviderError>;

    /// Answers one request as a stream. By default the whole answer of
    /// `complete`, as one piece.
    fn stream(request: Request) -> Result<Stream, ProviderError> {
        Self::complete(request).map(Stream::whole)
    }

    /// Embeds texts. By default `unsupported`: a provider that declares the
    /// `embeddings` feature for no model is never asked (the host checks).
    fn embed(request: EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "model {:?} has no embeddings",
            request.model
        )))
    }
}

/// Exports `$ty`, which implements `Provider`, as the plugin's provider
/// (the contract's `provider`, `streaming` and `embeddings` interfaces).
#[macro_export]
macro_rules! export_provider {
    ($ty:ident) => {
        impl $crate::bindings::exports::llmhost::provider::provider::Guest for $ty {
            fn metadata() -> $crate::types::ProviderInfo {
                <$ty as $crate::Provider>::metadata()
            }

            fn complete(
                request: $crate::types::Request,
            ) -> ::core::result::Result<$crate::types::Completion, $crate::types::ProviderError>
            {
                <$ty as $crate::Provider>::complete(request)
            }
        }

        impl $crate::bindings::exports::llmhost::provider::streaming::Guest for $ty {
            type CompletionStream = $crate::stream::Stream;

            fn start(
                request: $crate::types::Request,
            ) -> ::core::result::Result<
                $crate::bindings::exports::llmhost::provider::streaming::CompletionStream,
                $crate::types::ProviderError,
            > {
                <$ty as $crate::Provider>::stream(request).map(
                    $crate::bindings::exports::llmhost::provider::streaming::CompletionStream::new,
                )
            }
        }

        impl $crate::bindings::exports::llmhost::provider::embeddings::Guest for $ty {
            fn embed(
                request: $crate::embeddings_types::EmbeddingsRequest,
            ) -> ::core::result::Result<
                $crate::embeddings_types::EmbeddingsResponse,
                $crate::types::ProviderError,
            > {
                <$ty as $crate::Provider>::embed(request)
            }
        }

        $crate::bindings::export_bindings!($ty);
    };
}
