//! Closed-loop load: `--concurrency` keep-alive connections, each sending
//! its next request as soon as the last answer was read in full, for
//! `--seconds` after `--warmup-seconds`. Only the measured window counts:
//! the CPU time of the processes named by `--pid` (the server under test,
//! all its threads) and of this generator is read from `/proc` at its start
//! and end, and so are the mock's connection and request counters
//! (`--mock-stats`).
//!
//! A whole answer counts when its status is 200 and it holds `--expect`; a
//! streamed one (`--stream`) when its status is 200 and it carries at least
//! one non-empty content delta. Its time to first token is when the first
//! such delta arrived. Prints one JSON object; `--samples` also writes
//! every request's latency (and time to first token) in microseconds.

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;

use crate::client::{Connection, Url};
use crate::mock::ANSWER_TEXT;

#[derive(clap::Args)]
/// Closed-loop load against one URL.
pub(crate) struct Args {
    #[arg(long)]
    url: String,
    /// The JSON request body.
    #[arg(long)]
    body: String,
    /// Extra request header, `name: value`; repeatable.
    #[arg(long = "header")]
    headers: Vec<String>,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    #[arg(long, default_value_t = 0.5)]
    warmup_seconds: f64,
    /// Read the answer as a server-sent event stream.
    #[arg(long)]
    stream: bool,
    /// Text a whole answer must contain.
    #[arg(long, default_value = ANSWER_TEXT)]
    expect: String,
    /// Processes whose CPU time is measured over the window; repeatable.
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// The mock's `/stats` URL, read before and after the window.
    #[arg(long)]
    mock_stats: Option<String>,
    /// Where to write one line per request: `latency_us ttft_us`.
    #[arg(long)]
    samples: Option<std::path::PathBuf>,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    ttfts: Vec<u64>,
    content_chunks: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.ttfts.extend(other.ttfts);
        self.content_chunks += other.content_chunks;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, why: String) {
        self.errors += 1;
        self.first_error.get_or_insert(why);
    }
}

struct Request {
    url: Url,
    body: Bytes,
    headers: Vec<(String, String)>,
    stream: bool,
    expect: String,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let headers = args
        .headers
        .iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("header {h:?}: expected `name: value`"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let request = std::sync::Arc::new(Request {
        url: Url::parse(&args.url)?,
        body: Bytes::from(args.body.clone()),
        headers,
        stream: args.stream,
        expect: args.expect.clone(),
    });
    let mut connections = Vec::new();
    for _ in 0..args.concurrency {
        connections.push(Connection::open(&request.url).await?);
    }
    let warmup = Duration::from_secs_f64(args.warmup_seconds);
    let window = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + window;

    // Counters are read by a task that wakes at the window's edges, while
    // the clients keep the load on.
    let pids = args.pids.clone();
    let mut mock = match &args.mock_stats {
        Some(url) => Some(MockStats::open(url).await?),
        None => None,
    };
    let edges = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = Counters::read(&pids, mock.as_mut()).await;
        tokio::time::sleep_until(end.into()).await;
        let after = Counters::read(&pids, mock.as_mut()).await;
        (before, after)
    });

    let clients: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let outcome = one(&mut connection, &request, sent).await;
                    let counted = sent >= measure_from && Instant::now() <= end;
                    match outcome {
                        Ok(done) if counted => {
                            tally.latencies.push(done.latency);
                            tally.ttfts.extend(done.ttft);
                            tally.content_chunks += done.content_chunks;
                        }
                        Ok(_) => {}
                        Err(why) => {
                            tally.error(why);
                            // A broken connection is replaced, not retried.
                            match Connection::open(&request.url).await {
                                Ok(fresh) => connection = fresh,
                                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                            }
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for client in clients {
        tally.merge(client.await?);
    }
    let (before, after) = edges.await?;
    report(&args, &tally, &before, &after, window)
}

struct Done {
    latency: u64,
    ttft: Option<u64>,
    content_chunks: u64,
}

async fn one(
    connection: &mut Connection,
    request: &Request,
    sent: Instant,
) -> Result<Done, String> {
    let response = connection
        .send(
            http::Method::POST,
            &request.url.path,
            &request.headers,
            request.body.clone(),
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
    let status = response.status();
    let mut body = response.into_body();
    let mut seen = Vec::new();
    let mut scanner = EventScanner::default();
    let mut ttft = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("{e:#}"))?;
        if let Some(data) = frame.data_ref() {
            seen.extend_from_slice(data);
            if request.stream && scanner.scan(&seen) > 0 && ttft.is_none() {
                ttft = Some(sent.elapsed().as_micros() as u64);
            }
        }
    }
    let latency = sent.elapsed().as_micros() as u64;
    let text = || String::from_utf8_lossy(&seen[..seen.len().min(300)]).into_owned();
    if status != 200 {
        return Err(format!("status {status}: {}", text()));
    }
    if request.stream {
        if scanner.content_chunks == 0 {
            return Err(format!("a stream without content: {}", text()));
        }
    } else if !contains(&seen, request.expect.as_bytes()) {
        return Err(format!("answer without {:?}: {}", request.expect, text()));
    }
    Ok(Done {
        latency,
        ttft,
        content_chunks: scanner.content_chunks,
    })
}

/// Counts server-sent events that carry a non-empty `"content"` string,
/// scanning each complete event once as the body grows.
#[derive(Default)]
struct EventScanner {
    scanned: usize,
    content_chunks: u64,
}

impl EventScanner {
    /// New content events in `body` since the last call.
    fn scan(&mut self, body: &[u8]) -> u64 {
        let mut found = 0;
        while let Some(end) = find(&body[self.scanned..], b"\n\n") {
            let event = &body[self.scanned..self.scanned + end];
            if has_content(event) {
                found += 1;
            }
            self.scanned += end + 2;
        }
        self.content_chunks += found;
        found
    }
}

/// Whether a JSON event has `"content"` set to a non-empty string (with or
/// without spaces around the colon).
fn has_content(event: &[u8]) -> bool {
    let key = b"\"content\"";
    let mut from = 0;
    while let Some(at) = find(&event[from..], key) {
        let rest = &event[from + at + key.len()..];
        let rest = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
        if let Some(rest) = rest.strip_prefix(b":") {
            let rest = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
            if rest.len() >= 2 && rest[0] == b'"' && rest[1] != b'"' {
                return true;
            }
        }
        from += at + key.len();
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// CPU time of the measured processes and of this one, and the mock's
/// counters, at one instant.
struct Counters {
    server_cpu_us: u64,
    own_cpu_us: u64,
    mock: Option<(u64, u64)>,
}

impl Counters {
    async fn read(pids: &[u32], mock: Option<&mut MockStats>) -> Self {
        let server_cpu_us = pids
            .iter()
            .map(|pid| cpu_us(&format!("/proc/{pid}/stat")))
            .sum();
        let mock = match mock {
            Some(mock) => mock.read().await.ok(),
            None => None,
        };
        Self {
            server_cpu_us,
            own_cpu_us: cpu_us("/proc/self/stat"),
            mock,
        }
    }
}

/// The mock's counters, read over one connection opened before the window
/// (so that reading them adds no connection inside it).
struct MockStats {
    connection: Connection,
    path: String,
}

impl MockStats {
    async fn open(url: &str) -> anyhow::Result<Self> {
        let url = Url::parse(url)?;
        Ok(Self {
            connection: Connection::open(&url).await?,
            path: url.path,
        })
    }

    /// `(connections accepted, completions answered)`.
    async fn read(&mut self) -> anyhow::Result<(u64, u64)> {
        let (_, body) = self.connection.get(&self.path).await?;
        let stats: serde_json::Value = serde_json::from_slice(&body)?;
        let field = |name: &str| stats[name].as_u64().unwrap_or(0);
        Ok((field("connections"), field("requests")))
    }
}

/// User + system time of a process (all its threads), in microseconds; 0
/// when it is gone.
pub(crate) fn cpu_us(stat_path: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(stat_path) else {
        return 0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    ticks * 10_000
}

fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize])
}

fn report(
    args: &Args,
    tally: &Tally,
    before: &Counters,
    after: &Counters,
    window: Duration,
) -> anyhow::Result<()> {
    if let Some(path) = &args.samples {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (i, latency) in tally.latencies.iter().enumerate() {
            match tally.ttfts.get(i).filter(|_| args.stream) {
                Some(ttft) => writeln!(out, "{latency} {ttft}")?,
                None => writeln!(out, "{latency}")?,
            }
        }
    }
    let mut latencies = tally.latencies.clone();
    latencies.sort_unstable();
    let mut ttfts = tally.ttfts.clone();
    ttfts.sort_unstable();
    let (connections, upstream_requests) = match (before.mock, after.mock) {
        (Some(b), Some(a)) => (Some(a.0 - b.0), Some(a.1 - b.1)),
        _ => (None, None),
    };
    let summary = serde_json::json!({
        "requests": latencies.len(),
        "errors": tally.errors,
        "first_error": tally.first_error,
        "seconds": window.as_secs_f64(),
        "p50_us": percentile(&latencies, 0.5),
        "p99_us": percentile(&latencies, 0.99),
        "ttft_p50_us": percentile(&ttfts, 0.5),
        "ttft_p99_us": percentile(&ttfts, 0.99),
        "content_chunks": tally.content_chunks,
        "server_cpu_us": after.server_cpu_us.saturating_sub(before.server_cpu_us),
        "load_generator_cpu_us": after.own_cpu_us.saturating_sub(before.own_cpu_us),
        "upstream_connections": connections,
        "upstream_requests": upstream_requests,
    });
    println!("{summary}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_events_with_non_empty_content_count_as_chunks() {
        let mut scanner = EventScanner::default();
        let body = b"data: {\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}\n\n\
                     data: {\"delta\":{\"content\": \"tok0 \"}}\n\n\
                     data: {\"delta\":{\"content\":\"tok1";
        assert_eq!(scanner.scan(body), 1);
        let mut more = body.to_vec();
        more.extend_from_slice(b" \"}}\n\ndata: [DONE]\n\n");
        assert_eq!(scanner.scan(&more), 1);
        assert_eq!(scanner.content_chunks, 2);
    }

    #[test]
    fn percentiles_pick_from_sorted_samples() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 0.5), Some(51));
        assert_eq!(percentile(&samples, 0.99), Some(99));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
