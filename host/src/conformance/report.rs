//! The conformance report: one result per case, printed as it runs (a line
//! per case on stdout, or on stderr with `--json`), then the failures in
//! detail (expected, got, why, what to do) and a summary; or the whole
//! report as JSON.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::cases::Case;
use super::upstream::RequestSummary;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Pass,
    Fail,
    NotApplicable,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct CaseResult {
    pub(crate) name: String,
    pub(crate) about: String,
    /// `built-in …` or the cases file.
    pub(crate) source: String,
    pub(crate) status: Status,
    pub(crate) duration_ms: u64,
    pub(crate) expected: String,
    pub(crate) got: String,
    /// Each way the answer missed the expectation, or why the case does not apply.
    pub(crate) problems: Vec<String>,
    pub(crate) hint: Option<String>,
    /// Every HTTP request the plugin made in the case.
    pub(crate) requests: Vec<RequestSummary>,
}

impl CaseResult {
    pub(crate) fn new(case: &Case) -> Self {
        let mut result = Self::named(&case.name, &case.about, case.hint.as_deref().unwrap_or(""));
        result.source = case.source.clone();
        result
    }

    /// A check the runner makes itself (not from a cases file).
    pub(crate) fn named(name: &str, about: &str, hint: &str) -> Self {
        Self {
            name: name.to_owned(),
            about: about.to_owned(),
            source: "built-in".into(),
            status: Status::Pass,
            duration_ms: 0,
            expected: String::new(),
            got: String::new(),
            problems: Vec::new(),
            hint: (!hint.is_empty()).then(|| hint.to_owned()),
            requests: Vec::new(),
        }
    }

    pub(crate) fn skip(&mut self, why: &str) {
        self.status = Status::NotApplicable;
        self.problems = vec![why.to_owned()];
    }

    /// The case could not even be set up for this plugin.
    pub(crate) fn fail_setup(&mut self, why: String) {
        self.status = Status::Fail;
        self.got = "the case did not run".into();
        self.problems = vec![why];
    }

    pub(crate) fn conclude(&mut self, expected: String, got: String, problems: Vec<String>) {
        self.status = if problems.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        self.expected = expected;
        self.got = got;
        self.problems = problems;
    }
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) plugin: String,
    /// The name the provider must declare.
    pub(crate) name: String,
    pub(crate) contract_version: String,
    /// The component file's size and SHA-256, when a file was checked
    /// (not for a server's loaded instance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) not_applicable: usize,
    pub(crate) cases: Vec<CaseResult>,
}

impl Report {
    pub(crate) fn new(plugin: &Path, name: &str, size_bytes: usize, sha256: &str) -> Self {
        Self {
            plugin: plugin.display().to_string(),
            name: name.to_owned(),
            contract_version: "unknown".into(),
            size_bytes: Some(size_bytes),
            sha256: Some(sha256.to_owned()),
            passed: 0,
            failed: 0,
            not_applicable: 0,
            cases: Vec::new(),
        }
    }
}

impl Report {
    /// The report of a server's loaded instance (`plugin` names it).
    pub(crate) fn loaded(
        instance: &str,
        component: &str,
        plugin: &llmhost_runtime::Plugin,
    ) -> Self {
        let mut report = Self::new(
            Path::new(&format!("instance {instance} ({component}.wasm, loaded)")),
            component,
            0,
            "",
        );
        report.size_bytes = None;
        report.sha256 = None;
        report.contract_version = plugin.description().contract_version.clone();
        report
    }
}

/// Prints as cases finish (or, for a report the API returns, does not).
pub(crate) struct Progress {
    json: bool,
    quiet: bool,
    total: usize,
}

impl Progress {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            quiet: false,
            total: 0,
        }
    }

    /// Counts and collects, printing nothing.
    pub(crate) fn silent() -> Self {
        Self {
            json: false,
            quiet: true,
            total: 0,
        }
    }

    /// Progress lines go where the report does not: stderr under `--json`.
    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
            let _ = std::io::stdout().flush();
        }
    }

    pub(crate) fn start(&mut self, report: &Report, total: usize) {
        self.total = total;
        let size = report
            .size_bytes
            .map(|n| format!(" ({n} bytes)"))
            .unwrap_or_default();
        self.line(&format!(
            "conformance of {} as provider {:?}{size}, {total} checks",
            report.plugin, report.name
        ));
    }

    pub(crate) fn record(&mut self, report: &mut Report, result: CaseResult) {
        match result.status {
            Status::Pass => report.passed += 1,
            Status::Fail => report.failed += 1,
            Status::NotApplicable => report.not_applicable += 1,
        }
        let n = report.cases.len() + 1;
        let width = self.total.to_string().len();
        let line = match result.status {
            Status::Pass => format!(
                "  ok    {:>width$}/{} {} ({} ms)",
                n, self.total, result.name, result.duration_ms
            ),
            Status::Fail => format!(
                "  FAIL  {:>width$}/{} {}: {}",
                n, self.total, result.name, result.about
            ),
            Status::NotApplicable => format!(
                "  n/a   {:>width$}/{} {}: {}",
                n,
                self.total,
                result.name,
                result.problems.first().map_or("", String::as_str)
            ),
        };
        self.line(&line);
        report.cases.push(result);
    }

    /// The failures in detail and the summary, or the JSON report.
    pub(crate) fn finish(&self, report: &Report) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(report)?);
            return Ok(());
        }
        let mut out = String::new();
        for case in report.cases.iter().filter(|c| c.status == Status::Fail) {
            out.push_str(&failure(case));
        }
        out.push_str(&format!(
            "\n{}: {} passed, {} failed, {} not applicable (contract {})\n",
            if report.failed == 0 {
                "PASSED"
            } else {
                "FAILED"
            },
            report.passed,
            report.failed,
            report.not_applicable,
            report.contract_version
        ));
        print!("{out}");
        Ok(())
    }
}

fn failure(case: &CaseResult) -> String {
    let mut text = format!(
        "\n--- {} ({})\n    checks:   {}\n",
        case.name, case.source, case.about
    );
    if !case.expected.is_empty() {
        text.push_str(&format!("    expected: {}\n", case.expected));
    }
    text.push_str(&format!("    got:      {}\n", case.got));
    for problem in &case.problems {
        text.push_str(&format!("    why:      {problem}\n"));
    }
    if !case.requests.is_empty() {
        let requests: Vec<String> = case
            .requests
            .iter()
            .take(3)
            .map(|r| {
                format!(
                    "{} {}{}",
                    r.method,
                    r.url,
                    if r.allowed { "" } else { " (refused)" }
                )
            })
            .collect();
        let more = case.requests.len().saturating_sub(3);
        text.push_str(&format!(
            "    sent:     {}{}\n",
            requests.join("; "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    if let Some(hint) = &case.hint {
        text.push_str(&format!("    to fix:   {hint}\n"));
    }
    text
}
