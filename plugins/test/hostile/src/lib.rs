//! A hostile provider for the sandbox review's findings (issue 14): what it
//! does is the last message, `<mode>` or `<mode>:<argument>`, so that one
//! component drives every attack. Its metadata comes from `[config]`:
//! `name` (default `hostile`, so that a copy can load under another file
//! name) and `metadata` (`huge`: 30 MB strings; `loop`: never returns;
//! `reflect:<url>`: GETs the URL and describes itself with the answer, or
//! with why there was none).
//!
//! Modes:
//! - `log-flood:<lines>`: that many log lines, each with a forged newline;
//! - `log-forge`: one log line and an error message that try to forge
//!   lines with newline, CR, NUL and escape characters;
//! - `model:<bytes>`: completes with a model name that long;
//! - `error:<bytes>`: fails with an error message that long;
//! - `deny-swallow:<url>`: a refused request, then a completion anyway;
//! - `deny-flood:<count>:<url>`: that many refused requests, then fails;
//! - `fields:<count>:<bytes>`: that many `wasi:http` fields, each asked to
//!   hold a header of that many bytes, all kept alive;
//! - `requests:<count>:<url>`: that many requests to an allowed URL;
//! - `in-flight:<count>:<url>`: that many requests to an allowed URL, each
//!   response kept unread;
//! - `bodies:<count>:<bytes>`: that many requests never sent, each with as
//!   much of a body of that many bytes written as the host takes;
//! - `reflect:<url>`: GETs the URL, logs its body and fails with it;
//! - `reflect-panic:<url>`: GETs the URL and panics with its body (the
//!   host reads the panic message from the plugin's stderr);
//! - `clocks`: completes with the wall clock's seconds and the monotonic
//!   clock's nanoseconds (both readable, as docs/plugins.md says).

use llmhost_plugin_sdk::Provider;
use llmhost_plugin_sdk::answer::{info, text};
use llmhost_plugin_sdk::host::{LogLevel, config_get, log};
use llmhost_plugin_sdk::http;
use llmhost_plugin_sdk::types::{Completion, ProviderError, ProviderInfo, Request};

struct Plugin;

llmhost_plugin_sdk::export_provider!(Plugin);

/// A line that, written raw, would end the host's line and start a forged one.
const FORGERY: &str =
    "innocent\n2026-01-01T00:00:00.000000Z  INFO llmhost: FORGED admin login\r\0\u{1b}[2K";

impl Provider for Plugin {
    fn metadata() -> ProviderInfo {
        let name = config_get("name").unwrap_or_else(|| "hostile".into());
        match config_get("metadata").as_deref() {
            Some("huge") => info(&name, &"9".repeat(30 << 20), &"d".repeat(30 << 20)),
            Some("loop") => loop {
                std::hint::black_box(&name);
            },
            Some(order) if order.starts_with("reflect:") => {
                let url = &order["reflect:".len()..];
                let answer = http::send(&http::Request::get(url))
                    .map(|r| format!("upstream said: {}", r.text()))
                    .unwrap_or_else(|e| format!("no answer: {e}"));
                info(&name, "0.0.0", &answer)
            }
            _ => info(&name, "0.0.0", "attacks the host, one way per request"),
        }
    }

    fn complete(request: Request) -> Result<Completion, ProviderError> {
        let order = request
            .messages
            .last()
            .map(|m| llmhost_plugin_sdk::parts::text(&m.content))
            .unwrap_or_default();
        let (mode, argument) = order.split_once(':').unwrap_or((order.as_str(), ""));
        let number = || {
            argument
                .split(':')
                .next()
                .unwrap_or("")
                .parse::<usize>()
                .unwrap_or(0)
        };
        match mode {
            "log-flood" => {
                for i in 0..number() {
                    log(LogLevel::Info, &format!("{i} {FORGERY}"));
                }
                Ok(text("flooded".into(), request.model))
            }
            "log-forge" => {
                log(LogLevel::Warn, FORGERY);
                Err(ProviderError::InvalidRequest(FORGERY.into()))
            }
            "model" => Ok(text("ok".into(), "m".repeat(number()))),
            "error" => Err(ProviderError::InvalidRequest("e".repeat(number()))),
            "deny-swallow" => {
                let refused = http::send(&http::Request::get(argument));
                Ok(text(
                    format!("swallowed: {}", refused.is_err()),
                    request.model,
                ))
            }
            "deny-flood" => {
                let (count, url) = argument.split_once(':').unwrap_or(("0", ""));
                for _ in 0..count.parse::<usize>().unwrap_or(0) {
                    let _ = http::send(&http::Request::get(url));
                }
                Err(ProviderError::UpstreamError("all refused".into()))
            }
            "reflect" => {
                let body = http::send(&http::Request::get(argument))
                    .map(|r| r.text())
                    .unwrap_or_else(|e| e.to_string());
                log(LogLevel::Info, &body);
                Err(ProviderError::InvalidRequest(body))
            }
            "reflect-panic" => {
                let body = http::send(&http::Request::get(argument))
                    .map(|r| r.text())
                    .unwrap_or_else(|e| e.to_string());
                panic!("upstream said: {body}");
            }
            "fields" => {
                let (count, bytes) = argument.split_once(':').unwrap_or(("0", "0"));
                let value = vec![b'v'; bytes.parse().unwrap_or(0)];
                let mut held = Vec::new();
                for i in 0..count.parse::<usize>().unwrap_or(0) {
                    let fields = wasip2::http::types::Fields::new();
                    let refused = fields.append(&format!("x-{i}"), &value).is_err();
                    held.push((fields, refused));
                }
                let refused = held.iter().filter(|(_, r)| *r).count();
                Ok(text(
                    format!("held {}, {refused} refused", held.len()),
                    request.model,
                ))
            }
            "requests" => {
                let (count, url) = argument.split_once(':').unwrap_or(("0", ""));
                let mut ok = 0;
                for _ in 0..count.parse::<usize>().unwrap_or(0) {
                    ok += usize::from(http::send(&http::Request::get(url)).is_ok());
                }
                Ok(text(format!("{ok} answered"), request.model))
            }
            "clocks" => {
                let wall = wasip2::clocks::wall_clock::now().seconds;
                let monotonic = wasip2::clocks::monotonic_clock::now();
                Ok(text(
                    format!("wall={wall} monotonic={monotonic}"),
                    request.model,
                ))
            }
            "in-flight" => {
                let (count, url) = argument.split_once(':').unwrap_or(("0", ""));
                let mut open = Vec::new();
                for _ in 0..count.parse::<usize>().unwrap_or(0) {
                    open.push(http::open(&http::Request::get(url)));
                }
                let ok = open.iter().filter(|r| r.is_ok()).count();
                Ok(text(format!("{ok} open at once"), request.model))
            }
            "bodies" => {
                let (count, bytes) = argument.split_once(':').unwrap_or(("0", "0"));
                let chunk = vec![b'b'; bytes.parse().unwrap_or(0)];
                let mut held = Vec::new();
                let mut taken = 0u64;
                for _ in 0..count.parse::<usize>().unwrap_or(0) {
                    use wasip2::http::types::{Fields, OutgoingRequest};
                    let request = OutgoingRequest::new(Fields::new());
                    let Ok(body) = request.body() else { break };
                    let Ok(stream) = body.write() else { break };
                    // As much as the host will take now, without waiting.
                    let room = stream.check_write().unwrap_or(0) as usize;
                    let part = &chunk[..room.min(chunk.len())];
                    if stream.write(part).is_ok() {
                        taken += part.len() as u64;
                    }
                    // Dropped in this order: a stream before its body.
                    held.push((stream, body, request));
                }
                Ok(text(
                    format!("{} bodies hold {taken} bytes", held.len()),
                    request.model,
                ))
            }
            other => Err(ProviderError::InvalidRequest(format!(
                "unknown mode {other:?}"
            ))),
        }
    }
}
