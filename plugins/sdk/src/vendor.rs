//! The skeleton of a provider that calls an HTTP upstream: a vendor says
//! how to build its request, read a whole answer, decode a stream and read
//! an error answer (`HttpVendor`), and `export_vendor!` does the rest:
//! sending, status checks, transport errors, streaming or not.
//!
//! A vendor with embeddings also says how to ask for them and read them
//! (`embeddings_request`, `parse_embeddings`); by default it has none.
//!
//! Promises: a non-2xx answer is always the vendor's `error`, whole,
//! streamed or embedding; an upstream that ignores `stream: true` and answers one whole
//! JSON body is read with `parse` and streamed as one piece; the body of a
//! finished or failed stream is released at once.

use crate::bindings::exports::llmhost::provider::embeddings::{
    EmbeddingsRequest, EmbeddingsResponse,
};
use crate::bindings::llmhost::provider::host::{LogLevel, log};
use crate::bindings::llmhost::provider::types::{Completion, ProviderError, ProviderInfo, Request};
use crate::errors::transport_error;
use crate::http::{self, Response};
use crate::stream::{Decoder, Stream};

/// An HTTP upstream's wire format: what a vendor plugin writes. Everything
/// else (sending, statuses, transport failures, streams) is the SDK's.
pub trait HttpVendor: 'static {
    /// The vendor's name in error messages, e.g. `openai`.
    const NAME: &'static str;

    /// Decodes the vendor's streamed answer, frame by frame.
    type Decoder: Decoder;

    /// Who the provider is; see `Provider::metadata`.
    fn metadata() -> ProviderInfo;

    /// The upstream request for `request`, asking for a streamed answer
    /// when `stream` is true. An error here (a request the vendor cannot
    /// express) fails the call before anything is sent.
    fn request(request: &Request, stream: bool) -> Result<http::Request, ProviderError>;

    /// A whole 2xx answer's body as a completion; `request` is what was
    /// asked (the model, until the answer names the one that answered).
    fn parse(request: &Request, body: &[u8]) -> Result<Completion, ProviderError>;

    /// A non-2xx answer as the contract's typed error.
    fn error(response: &Response) -> ProviderError;

    /// A fresh decoder for the streamed answer to `request`.
    fn decoder(request: &Request) -> Self::Decoder;

    /// The upstream request that embeds `request`'s inputs. By default the
    /// vendor has no embeddings: `unsupported`.
    fn embeddings_request(request: &EmbeddingsRequest) -> Result<http::Request, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "{}: model {:?} has no embeddings",
            Self::NAME,
            request.model
        )))
    }

    /// A whole 2xx embeddings answer's body as vectors in the inputs' order.
    fn parse_embeddings(
        request: &EmbeddingsRequest,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, ProviderError> {
        let _ = body;
        Err(ProviderError::Unsupported(format!(
            "{}: model {:?} has no embeddings",
            Self::NAME,
            request.model
        )))
    }
}

/// `complete` for vendor `V`: one request, the whole answer.
pub fn complete<V: HttpVendor>(request: Request) -> Result<Completion, ProviderError> {
    let outgoing = V::request(&request, false)?;
    debug(&outgoing);
    let response = http::send(&outgoing).map_err(|e| transport_error(V::NAME, e))?;
    if !success(response.status) {
        return Err(V::error(&response));
    }
    V::parse(&request, &response.body)
}

/// `stream` for vendor `V`: the answer decoded as it arrives; an answer
/// sent whole although a stream was asked for, as one piece.
pub fn stream<V: HttpVendor>(request: Request) -> Result<Stream, ProviderError> {
    let outgoing = V::request(&request, true)?;
    debug(&outgoing);
    let response = http::open(&outgoing).map_err(|e| transport_error(V::NAME, e))?;
    if !success(response.status) || answered_whole(response.header("content-type")) {
        let response = response
            .into_response()
            .map_err(|e| transport_error(V::NAME, e))?;
        if !success(response.status) {
            return Err(V::error(&response));
        }
        return V::parse(&request, &response.body).map(Stream::whole);
    }
    Ok(Stream::pull(V::NAME, response.body, V::decoder(&request)))
}

/// `embed` for vendor `V`: one request, the vectors. An answer with another
/// number of vectors than inputs is the upstream's error, never a short
/// answer.
pub fn embed<V: HttpVendor>(
    request: EmbeddingsRequest,
) -> Result<EmbeddingsResponse, ProviderError> {
    let outgoing = V::embeddings_request(&request)?;
    debug(&outgoing);
    let response = http::send(&outgoing).map_err(|e| transport_error(V::NAME, e))?;
    if !success(response.status) {
        return Err(V::error(&response));
    }
    let answer = V::parse_embeddings(&request, &response.body)?;
    if answer.vectors.len() != request.inputs.len() {
        return Err(ProviderError::UpstreamError(format!(
            "{}: {} vectors for {} inputs",
            V::NAME,
            answer.vectors.len(),
            request.inputs.len()
        )));
    }
    Ok(answer)
}

/// Whether a 2xx answer to a streamed request is one JSON document rather
/// than a stream: some servers (proxies answering from a cache or a mock)
/// ignore `stream: true`. Streams are `text/event-stream` or
/// `application/x-ndjson`.
pub fn answered_whole(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn debug(request: &http::Request) {
    log(
        LogLevel::Debug,
        &format!("{} {}", request.method, request.url),
    );
}

/// Exports `$ty`, which implements `HttpVendor`, as the plugin's provider.
#[macro_export]
macro_rules! export_vendor {
    ($ty:ident) => {
        impl $crate::Provider for $ty {
            fn metadata() -> $crate::types::ProviderInfo {
                <$ty as $crate::vendor::HttpVendor>::metadata()
            }

            fn complete(
                request: $crate::types::Request,
            ) -> ::core::result::Result<$crate::types::Completion, $crate::types::ProviderError>
            {
                $crate::vendor::complete::<$ty>(request)
            }

            fn stream(
                request: $crate::types::Request,
            ) -> ::core::result::Result<$crate::stream::Stream, $crate::types::ProviderError> {
                $crate::vendor::stream::<$ty>(request)
            }

            fn embed(
                request: $crate::embeddings_types::EmbeddingsRequest,
            ) -> ::core::result::Result<
                $crate::embeddings_types::EmbeddingsResponse,
                $crate::types::ProviderError,
            > {
                $crate::vendor::embed::<$ty>(request)
            }
        }
        $crate::export_provider!($ty);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_content_type_is_a_whole_answer_to_a_streamed_request() {
        for whole in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
        ] {
            assert!(answered_whole(Some(whole)), "{whole}");
        }
        for streamed in [
            "text/event-stream",
            "text/event-stream; charset=utf-8",
            "application/x-ndjson",
        ] {
            assert!(!answered_whole(Some(streamed)), "{streamed}");
        }
        assert!(!answered_whole(None));
    }
}
