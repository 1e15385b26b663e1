//! The conformance suite: runs a plugin through data-driven cases in the
//! server's own sandbox, hermetically (the host answers the plugin's HTTP
//! requests from each case's script; nothing reaches the network), and
//! reports per case what was expected and what came back. Used by the
//! `llmhost conformance` command (`cli/conformance.rs`, a file) and by
//! `POST /api/v1/providers/{name}/conformance` (`api/conformance.rs`, a
//! loaded instance).

mod cases;
mod check;
mod features;
mod outcome;
mod report;
mod request;
mod upstream;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use report::{CaseResult, Progress, Report};

use cases::{Case, Kind, Needs, Suite};
use llmhost_runtime::kit::Sandbox;
use llmhost_runtime::{Manifest, Plugin, ProviderInfo, ScriptedUpstream};
use outcome::Outcome;
use request::Prepared;

/// A plugin file to check, as the command names it.
pub(crate) struct Target<'a> {
    /// The plugin component (`.wasm`).
    pub(crate) plugin: &'a Path,
    /// Its manifest [default: `<plugin>.toml` beside it, if any].
    pub(crate) manifest: Option<&'a Path>,
    /// A directory of the plugin's own cases and upstream answers.
    pub(crate) cases: Option<&'a Path>,
}

/// The plugin under test, opened in the sandbox with a scripted upstream.
struct Subject {
    plugin: Plugin,
    info: ProviderInfo,
    script: Arc<ScriptedUpstream>,
    has_egress: bool,
    streams: bool,
}

/// Runs the suite (with the target's own cases) against a plugin file.
pub(crate) async fn run_file(args: &Target<'_>, progress: &mut Progress) -> anyhow::Result<Report> {
    let bytes = std::fs::read(args.plugin)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.plugin.display()))?;
    let (manifest, name) = manifest_and_name(args)?;
    let suite = Suite::load(args.cases)?;
    let mut report = Report::new(
        args.plugin,
        &name,
        bytes.len(),
        &llmhost_runtime::sha256_hex(&bytes),
    );
    progress.start(&report, suite.cases.len() + 2);

    let sandbox = Sandbox::new()?;
    let component = sandbox
        .compile(&bytes)
        .map_err(|e| anyhow::anyhow!("{} cannot be compiled: {e:#}", args.plugin.display()))?;
    let contract = sandbox.contract(&component);
    report.contract_version = contract.version_text();
    if let Err(why) = contract.check() {
        anyhow::bail!("{}: this host cannot load it: {why}", args.plugin.display());
    }
    let has_egress = !manifest.egress.allow.is_empty();
    let script = Arc::new(ScriptedUpstream::default());
    let (plugin, info) = sandbox
        .open(&component, &name, manifest, Some(script.clone()))
        .await
        .map_err(|e| anyhow::anyhow!("the plugin could not be loaded: {e:#}"))?;
    let subject = Subject {
        streams: plugin.streams(),
        plugin,
        info,
        script,
        has_egress,
    };
    run_suite(&subject, &suite, &name, report, progress).await
}

/// Runs the built-in suite against the server's instance `instance` as it
/// is loaded (its component, config, egress and limits), hermetically: a
/// scripted upstream answers, and no secret's value is read. `component`
/// is the name its plugin must declare. `None` when no such instance
/// serves.
pub(crate) async fn run_instance(
    runtime: &llmhost_runtime::Runtime,
    instance: &str,
    component: &str,
) -> Option<anyhow::Result<Report>> {
    let script = Arc::new(ScriptedUpstream::default());
    let opened = runtime.open_scripted(instance, script.clone()).await?;
    Some(
        async {
            let (plugin, info) =
                opened.map_err(|e| anyhow::anyhow!("the plugin could not be opened: {e:#}"))?;
            let suite = Suite::load(None)?;
            let report = Report::loaded(instance, component, &plugin);
            let mut progress = Progress::silent();
            progress.start(&report, suite.cases.len() + 2);
            let subject = Subject {
                streams: plugin.streams(),
                has_egress: !plugin.manifest().egress.allow.is_empty(),
                plugin,
                info,
                script,
            };
            run_suite(&subject, &suite, component, report, &mut progress).await
        }
        .await,
    )
}

/// Every case of `suite` against `subject`, which must declare `name`.
async fn run_suite(
    subject: &Subject,
    suite: &Suite,
    name: &str,
    mut report: Report,
    progress: &mut Progress,
) -> anyhow::Result<Report> {
    progress.record(&mut report, check::metadata(&subject.info, name));
    let mut seen_everywhere = Vec::new();
    for case in &suite.cases {
        let (result, seen) = run_case(subject, case, suite).await;
        seen_everywhere.extend(seen);
        progress.record(&mut report, result);
    }
    progress.record(
        &mut report,
        check::egress_summary(&seen_everywhere, subject.has_egress),
    );
    Ok(report)
}

/// The manifest (given, or beside the plugin) and the name the provider must
/// declare: the manifest's file name, else the plugin's.
fn manifest_and_name(args: &Target<'_>) -> anyhow::Result<(Manifest, String)> {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match args.manifest {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("manifest {}: {e}", path.display()))?;
            let manifest = Manifest::parse(&text)
                .map_err(|e| anyhow::anyhow!("manifest {}: {e}", path.display()))?;
            Ok((manifest, stem(path)))
        }
        None => Ok((Manifest::load_beside(args.plugin)?, stem(args.plugin))),
    }
}

/// The upstream's answers for the (whole) call of a case; none for a plugin
/// that makes no requests.
fn exchanges(
    subject: &Subject,
    case: &Case,
    suite: &Suite,
) -> Result<Vec<llmhost_runtime::Exchange>, String> {
    if !subject.has_egress {
        return Ok(Vec::new());
    }
    upstream::script(case, &suite.answers, false)
}

/// The upstream's answers for the streamed call of a case.
fn stream_script(
    subject: &Subject,
    case: &Case,
    suite: &Suite,
) -> Result<Vec<llmhost_runtime::Exchange>, String> {
    if !subject.has_egress {
        return Ok(Vec::new());
    }
    upstream::script(case, &suite.answers, true)
}

/// Streams `request`; the outcome and the events as they came.
async fn stream(
    plugin: &Plugin,
    request: &llmhost_runtime::Request,
    deadline: Duration,
) -> (Outcome, check::Streamed) {
    let (sink, mut deltas) = llmhost_runtime::delta_channel();
    let collect = tokio::spawn(async move {
        let mut seen = check::Streamed::default();
        while let Some(delta) = deltas.recv().await {
            match delta {
                llmhost_runtime::StreamEvent::Text(text) => seen.texts.push(text),
                llmhost_runtime::StreamEvent::ToolCall(_) => seen.tool_call_pieces += 1,
                _ => {}
            }
        }
        seen
    });
    let outcome = Outcome::of(plugin.stream(request, deadline, &sink).await);
    drop(sink);
    (outcome, collect.await.unwrap_or_default())
}

/// Runs one case; also returns every request the plugin made in it.
async fn run_case(
    subject: &Subject,
    case: &Case,
    suite: &Suite,
) -> (CaseResult, Vec<llmhost_runtime::SeenRequest>) {
    let mut result = CaseResult::new(case);
    match case.needs {
        Needs::Egress if !subject.has_egress => {
            result.skip("not applicable: the plugin's manifest allows no egress, so it makes no HTTP requests");
            return (result, Vec::new());
        }
        Needs::Streaming if !subject.streams => {
            result.skip("not applicable: the plugin does not export `streaming`");
            return (result, Vec::new());
        }
        _ => {}
    }
    if case.kind == Kind::Embed {
        return run_embed(subject, case, suite, result).await;
    }
    let request = match request::prepare(case, &subject.plugin, &subject.info) {
        Prepared::Call(request) if case.expect.refused.is_none() => *request,
        Prepared::Call(request) => {
            let want = case.expect.refused.as_deref().unwrap_or_default();
            result.conclude(
                check::describe_expected(case, None),
                format!("the host lets the request through to {}", request.model),
                vec![format!(
                    "expected the host to refuse the request naming {want}"
                )],
            );
            return (result, Vec::new());
        }
        Prepared::Refused { model, refusal } => {
            let problems = match &case.expect.refused {
                Some(want) if *want == refusal.param => Vec::new(),
                _ => vec![format!(
                    "the host refuses this request for {model} before calling the plugin; \
                     declare what it uses in the model's capabilities if the plugin \
                     supports it"
                )],
            };
            result.conclude(
                check::describe_expected(case, None),
                format!(
                    "refused for {model}: {}: {}",
                    refusal.param, refusal.message
                ),
                problems,
            );
            return (result, Vec::new());
        }
        Prepared::NotApplicable(why) => {
            result.skip(&why);
            return (result, Vec::new());
        }
        Prepared::Invalid(why) => {
            result.fail_setup(why);
            return (result, Vec::new());
        }
    };
    let exchanges = match exchanges(subject, case, suite) {
        Ok(exchanges) => exchanges,
        Err(why) => {
            result.fail_setup(why);
            return (result, Vec::new());
        }
    };
    let deadline = Duration::from_millis(case.request.timeout_ms.unwrap_or(10_000));
    let first_byte = case.first_byte_timeout_ms.map(Duration::from_millis);
    let call = async || {
        subject.script.reset(exchanges.clone(), first_byte);
        let started = Instant::now();
        let outcome = Outcome::of(subject.plugin.complete(&request, deadline).await);
        (outcome, started.elapsed(), subject.script.seen())
    };
    let (outcome, elapsed, mut seen) = call().await;
    result.duration_ms = elapsed.as_millis() as u64;
    result.requests = upstream::summarize(&seen);
    let expected_text = if subject.has_egress {
        upstream::expected_text(case, &suite.answers)
    } else {
        None
    };
    let mut problems = check::expectations(case, &outcome, elapsed, expected_text.as_deref());
    if let Outcome::Completed(completion) = &outcome {
        let answer_calls = if subject.has_egress {
            upstream::expected_calls(case, &suite.answers)
        } else {
            None
        };
        problems.extend(features::completion(
            case,
            &request,
            completion,
            answer_calls.as_deref(),
        ));
    }
    if let Some(expect) = &case.expect.request
        && subject.has_egress
    {
        problems.extend(upstream::check_request(expect, &seen));
    }
    match case.kind {
        Kind::Complete => {}
        Kind::Repeat => {
            let (again, _, seen_again) = call().await;
            seen.extend(seen_again);
            if again != outcome {
                problems.push(format!(
                    "the same request answered differently the second time: first {}, then {}",
                    outcome.describe(),
                    again.describe()
                ));
            }
        }
        Kind::Embed => unreachable!("embeddings cases run in run_embed"),
        Kind::Stream => match stream_script(subject, case, suite) {
            Ok(streamed_exchanges) => {
                subject.script.reset(streamed_exchanges, first_byte);
                let (streamed, events) = stream(&subject.plugin, &request, deadline).await;
                seen.extend(subject.script.seen());
                problems.extend(check::stream_matches(case, &outcome, &streamed, &events));
            }
            Err(why) => problems.push(why),
        },
    }
    // Every call's requests, the second and the streamed one's too: a
    // plugin may reach another origin only on its streaming path.
    problems.extend(upstream::outside_manifest(&seen));
    result.conclude(
        check::describe_expected(case, expected_text.as_deref()),
        outcome.describe(),
        problems,
    );
    (result, seen)
}

/// Runs one `kind = "embed"` case: `embeddings.embed` on the first model
/// that declares `embeddings`.
async fn run_embed(
    subject: &Subject,
    case: &Case,
    suite: &Suite,
    mut result: CaseResult,
) -> (CaseResult, Vec<llmhost_runtime::SeenRequest>) {
    let request = match request::embeddings(case, &subject.plugin, &subject.info) {
        Ok(request) => request,
        Err(why) => {
            result.skip(&why);
            return (result, Vec::new());
        }
    };
    let exchanges = match exchanges(subject, case, suite) {
        Ok(exchanges) => exchanges,
        Err(why) => {
            result.fail_setup(why);
            return (result, Vec::new());
        }
    };
    let deadline = Duration::from_millis(case.request.timeout_ms.unwrap_or(10_000));
    subject.script.reset(
        exchanges,
        case.first_byte_timeout_ms.map(Duration::from_millis),
    );
    let started = Instant::now();
    let outcome = Outcome::of_embeddings(subject.plugin.embed(&request, deadline).await);
    let elapsed = started.elapsed();
    let seen = subject.script.seen();
    result.duration_ms = elapsed.as_millis() as u64;
    result.requests = upstream::summarize(&seen);
    let mut problems = if case.expect.error.is_some() {
        check::expectations(case, &outcome, elapsed, None)
    } else {
        features::embeddings(case, &outcome, request.inputs.len())
    };
    if let Some(expect) = &case.expect.request
        && subject.has_egress
    {
        problems.extend(upstream::check_request(expect, &seen));
    }
    problems.extend(upstream::outside_manifest(&seen));
    result.conclude(
        check::describe_expected(case, None),
        outcome.describe(),
        problems,
    );
    (result, seen)
}
