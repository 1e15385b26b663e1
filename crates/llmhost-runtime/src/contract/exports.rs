//! A plugin's exported interfaces, of whichever contract version it was
//! built against, called in the newest version's types: one enum with a case
//! per supported series, so that the rest of the runtime is written once.
//! What an older version cannot carry is refused, never dropped.

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre, ResourceAny};

use super::{Series, v0_1, v0_2};
use crate::state::PluginState;

type Answer<T> = wasmtime::Result<Result<T, v0_2::ProviderError>>;

/// The export indices of one linked component.
pub(crate) enum Exports {
    V0_1 {
        provider: v0_1::ProviderIndices,
        streaming: Option<v0_1::StreamingIndices>,
    },
    V0_2 {
        provider: v0_2::ProviderIndices,
        streaming: Option<v0_2::StreamingIndices>,
        embeddings: Option<v0_2::EmbeddingsIndices>,
    },
}

/// A stream a plugin started, with the instance's interface to pull it.
pub(crate) enum Stream {
    V0_1(
        v0_1::exports::llmhost::provider::streaming::Guest,
        ResourceAny,
    ),
    V0_2(
        v0_2::exports::llmhost::provider::streaming::Guest,
        ResourceAny,
    ),
}

impl Exports {
    /// Finds the exports of `series` in the component; `provider` is
    /// required, the others optional.
    pub(crate) fn new(series: Series, pre: &InstancePre<PluginState>) -> anyhow::Result<Self> {
        Ok(match series {
            Series::V0_1 => Self::V0_1 {
                provider: v0_1::ProviderIndices::new(pre)?,
                streaming: v0_1::StreamingIndices::new(pre).ok(),
            },
            Series::V0_2 => Self::V0_2 {
                provider: v0_2::ProviderIndices::new(pre)?,
                streaming: v0_2::StreamingIndices::new(pre).ok(),
                embeddings: v0_2::EmbeddingsIndices::new(pre).ok(),
            },
        })
    }

    /// Whether the plugin exports `streaming`.
    pub(crate) fn streams(&self) -> bool {
        match self {
            Self::V0_1 { streaming, .. } => streaming.is_some(),
            Self::V0_2 { streaming, .. } => streaming.is_some(),
        }
    }

    /// Whether the plugin exports `embeddings`.
    pub(crate) fn embeds(&self) -> bool {
        matches!(
            self,
            Self::V0_2 {
                embeddings: Some(_),
                ..
            }
        )
    }

    pub(crate) async fn metadata(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
    ) -> wasmtime::Result<v0_2::ProviderInfo> {
        match self {
            Self::V0_1 { provider, .. } => {
                let provider = provider.load(&mut *store, instance)?;
                Ok(v0_1::provider_info(provider.call_metadata(store).await?))
            }
            Self::V0_2 { provider, .. } => {
                let provider = provider.load(&mut *store, instance)?;
                provider.call_metadata(store).await
            }
        }
    }

    pub(crate) async fn complete(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        request: &v0_2::Request,
    ) -> Answer<v0_2::Completion> {
        match self {
            Self::V0_1 { provider, .. } => {
                let request = match v0_1::request(request) {
                    Ok(request) => request,
                    Err(why) => return Ok(Err(unsupported_by_0_1(why))),
                };
                let provider = provider.load(&mut *store, instance)?;
                let answer = provider.call_complete(store, &request).await?;
                Ok(answer.map(v0_1::completion).map_err(v0_1::error))
            }
            Self::V0_2 { provider, .. } => {
                let provider = provider.load(&mut *store, instance)?;
                provider.call_complete(store, request).await
            }
        }
    }

    /// Starts a stream; `Ok(Ok(None))` when the plugin does not stream.
    pub(crate) async fn start(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        request: &v0_2::Request,
    ) -> Answer<Option<Stream>> {
        match self {
            Self::V0_1 {
                streaming: Some(streaming),
                ..
            } => {
                let request = match v0_1::request(request) {
                    Ok(request) => request,
                    Err(why) => return Ok(Err(unsupported_by_0_1(why))),
                };
                let guest = streaming.load(&mut *store, instance)?;
                Ok(match guest.call_start(store, &request).await? {
                    Ok(handle) => Ok(Some(Stream::V0_1(guest, handle))),
                    Err(error) => Err(v0_1::error(error)),
                })
            }
            Self::V0_2 {
                streaming: Some(streaming),
                ..
            } => {
                let guest = streaming.load(&mut *store, instance)?;
                Ok(match guest.call_start(store, request).await? {
                    Ok(handle) => Ok(Some(Stream::V0_2(guest, handle))),
                    Err(error) => Err(error),
                })
            }
            _ => Ok(Ok(None)),
        }
    }

    /// Embeds; `Ok(Ok(None))` when the plugin does not export `embeddings`.
    pub(crate) async fn embed(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        request: &v0_2::EmbeddingsRequest,
    ) -> Answer<Option<v0_2::EmbeddingsResponse>> {
        match self {
            Self::V0_2 {
                embeddings: Some(embeddings),
                ..
            } => {
                let guest = embeddings.load(&mut *store, instance)?;
                Ok(guest.call_embed(store, request).await?.map(Some))
            }
            _ => Ok(Ok(None)),
        }
    }
}

impl Stream {
    /// The next events, in the newest version's types.
    pub(crate) async fn next(
        &self,
        store: &mut Store<PluginState>,
    ) -> Answer<Vec<v0_2::StreamEvent>> {
        match self {
            Self::V0_1(guest, handle) => {
                let events = guest.completion_stream().call_next(store, *handle).await?;
                Ok(events
                    .map(|events| events.into_iter().map(v0_1::stream_event).collect())
                    .map_err(v0_1::error))
            }
            Self::V0_2(guest, handle) => guest.completion_stream().call_next(store, *handle).await,
        }
    }
}

fn unsupported_by_0_1(why: String) -> v0_2::ProviderError {
    v0_2::ProviderError::Unsupported(format!(
        "this provider is built against contract 0.1, which cannot carry {why}"
    ))
}
