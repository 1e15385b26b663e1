//! A scripted upstream: the host answers a plugin's outgoing requests from a
//! list of exchanges instead of the network (the conformance suite), so no
//! name is resolved and no socket is opened. Every request the plugin makes
//! is recorded, refused ones included; the manifest's origin check and the
//! first-byte timeout apply as they do on the network.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::{EgressPolicy, Incident, IncidentLog};

/// How the scripted upstream answers one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A whole response.
    Complete,
    /// Never a first byte: the host's first-byte timeout ends the wait.
    Hang,
    /// The status, headers and half the body, then the connection drops.
    CutShort,
}

/// One answer of the script.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub reply: Reply,
}

/// A request as the plugin sent it (before any secret would be added).
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// `Err` with the reason when the manifest does not allow the origin.
    pub allowed: Result<(), String>,
}

/// The exchanges still to answer, in order (the last one answers every
/// further request too), and every request seen.
#[derive(Default)]
pub struct ScriptedUpstream {
    exchanges: Mutex<VecDeque<Exchange>>,
    seen: Mutex<Vec<SeenRequest>>,
    /// Replaces the manifest's first-byte timeout when shorter.
    first_byte: Mutex<Option<Duration>>,
}

impl ScriptedUpstream {
    /// Replaces the script and forgets the requests seen so far.
    pub fn reset(&self, exchanges: Vec<Exchange>, first_byte_timeout: Option<Duration>) {
        *self.exchanges.lock().expect("script lock") = exchanges.into();
        *self.first_byte.lock().expect("script lock") = first_byte_timeout;
        self.seen.lock().expect("script lock").clear();
    }

    fn next_exchange(&self) -> Option<Exchange> {
        let mut exchanges = self.exchanges.lock().expect("script lock");
        if exchanges.len() > 1 {
            exchanges.pop_front()
        } else {
            exchanges.front().cloned()
        }
    }

    /// The requests the plugin made since the last `reset`.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("script lock").clone()
    }

    /// Records the request and answers it with the next exchange; with an
    /// empty script, like an unreachable upstream.
    pub(super) async fn answer(
        &self,
        request: http::Request<WasiBody>,
        allowed: Result<(), String>,
        policy: &EgressPolicy,
        options: Option<RequestOptions>,
        incidents: IncidentLog,
    ) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let denied = allowed.is_err();
        self.seen.lock().expect("script lock").push(SeenRequest {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            body,
            allowed,
        });
        if denied {
            return Err(Error::HttpRequestDenied);
        }
        let Some(exchange) = self.next_exchange() else {
            return Err(Error::ConnectionRefused);
        };
        if exchange.reply == Reply::Hang {
            let ours = *self.first_byte.lock().expect("script lock");
            let wait = [ours, options.and_then(|o| o.first_byte_timeout)]
                .into_iter()
                .flatten()
                .fold(policy.timeouts.first_byte, Duration::min);
            tokio::time::sleep(wait).await;
            incidents.record(Incident::Timeout(format!(
                "{}: no response within {wait:?}",
                parts.uri.host().unwrap_or("upstream")
            )));
            return Err(Error::ConnectionReadTimeout);
        }
        Ok((response(exchange)?, Box::new(async { Ok(()) })))
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

fn response(exchange: Exchange) -> Result<http::Response<WasiBody>, Error> {
    let body: WasiBody = match exchange.reply {
        Reply::CutShort => {
            let half = exchange.body.slice(..exchange.body.len() / 2);
            let frames = futures::stream::iter([
                Ok(http_body::Frame::data(half)),
                Err(Error::ConnectionTerminated),
            ]);
            StreamBody::new(frames).boxed_unsync()
        }
        _ => Full::new(exchange.body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    };
    let mut builder = http::Response::builder().status(exchange.status);
    for (name, value) in &exchange.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(body)
        .map_err(|e| Error::InternalError(Some(format!("scripted response: {e}"))))
}
