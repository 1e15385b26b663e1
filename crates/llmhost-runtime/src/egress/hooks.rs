//! The wasi:http hooks of one call: the only way a plugin's request leaves
//! the host. Checks the policy, records incidents, adds secrets, forbids the
//! plugin from setting credential headers itself.

use std::future::Future;
use std::sync::Arc;

use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

use tokio::sync::Semaphore;

use super::{EgressPolicy, Incident, IncidentLog, send};

pub(crate) struct EgressHooks {
    policy: Arc<EgressPolicy>,
    incidents: IncidentLog,
    forbidden: ForbiddenHeaderFilter,
    plugin: Arc<str>,
    /// Requests this call has sent, refused ones included.
    sent: usize,
    /// One permit per request of this call whose response has not been
    /// read to its end or dropped: each holds a connection and its buffers.
    in_flight: Arc<Semaphore>,
}

/// Outgoing requests one call may make: a provider makes one, or a few
/// with redirects and tools.
pub(crate) const MAX_REQUESTS: usize = 256;
/// Requests of one call awaiting or delivering their response at once, so
/// connections (sockets) held per call too.
pub(crate) const MAX_IN_FLIGHT: usize = 16;
/// Bytes of a request body the host takes from the plugin per write, and
/// holds (twice that at most) until the upstream reads them: the default,
/// 1 MiB, let a plugin park megabytes in every body it never sends.
pub(crate) const BODY_CHUNK_BYTES: usize = 64 << 10;

impl EgressHooks {
    pub(crate) fn new(policy: Arc<EgressPolicy>, incidents: IncidentLog, plugin: Arc<str>) -> Self {
        let secret_headers = policy.secret_header_names();
        // Credentials are the host's to add: a plugin may set neither the
        // standard credential headers nor any header the host injects.
        let forbidden: ForbiddenHeaderFilter = Arc::new(move |name| {
            DEFAULT_FORBIDDEN_HEADERS.contains(name)
                || *name == AUTHORIZATION
                || *name == PROXY_AUTHORIZATION
                || secret_headers.contains(name)
        });
        Self {
            policy,
            incidents,
            forbidden,
            plugin,
            sent: 0,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for EgressHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        self.forbidden.clone()
    }

    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        1
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_CHUNK_BYTES
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let policy = self.policy.clone();
        let incidents = self.incidents.clone();
        let plugin = self.plugin.clone();
        self.sent += 1;
        let over = if self.sent > MAX_REQUESTS {
            Some(format!(
                "the provider made more than {MAX_REQUESTS} outgoing requests in one call"
            ))
        } else {
            None
        };
        let permit = self.in_flight.clone().try_acquire_owned();
        Box::new(async move {
            let why = match (over, &permit) {
                (Some(why), _) => Some(why),
                (None, Err(_)) => Some(format!(
                    "the provider had more than {MAX_IN_FLIGHT} outgoing requests in flight at \
                     once"
                )),
                (None, Ok(_)) => None,
            };
            if let Some(why) = why {
                if incidents.record(Incident::Limit(why.clone())) {
                    tracing::warn!(plugin = &*plugin, "{why}; the rest are refused");
                }
                return Err(Error::HttpRequestDenied);
            }
            let permit = permit.expect("checked");
            if let Some(script) = &policy.script {
                let allowed = policy.check_origin(request.uri()).map(|_| ());
                if let Err(why) = &allowed {
                    incidents.record(Incident::Denied(why.clone()));
                }
                // Secrets stay home: a scripted upstream needs no credential.
                return script
                    .answer(request, allowed, &policy, options, incidents)
                    .await;
            }
            let target = match policy.check(request.uri()).await {
                Ok(target) => target,
                Err(why) => {
                    // Once per call: the task's error says the first, and a
                    // plugin that retries refusals must not flood the log.
                    let shown = incidents.redacted(why.clone());
                    if incidents.record(Incident::Denied(why)) {
                        tracing::warn!(plugin = &*plugin, "egress denied: {shown}");
                    }
                    return Err(Error::HttpRequestDenied);
                }
            };
            policy.inject_secrets(&mut request);
            send::send(request, target, &policy, options, incidents, permit).await
        })
    }
}
