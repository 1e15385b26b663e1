use std::collections::BTreeMap;

use llmhost_store::error_code::ErrorCode;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::plan::Next;
use super::*;

fn instances() -> Vec<String> {
    ["anthropic", "gemini", "groq", "local"]
        .map(str::to_owned)
        .to_vec()
}

fn routes(text: &str) -> Result<Routes, String> {
    let specs: BTreeMap<String, RouteSpec> = toml::from_str(text).map_err(|e| e.to_string())?;
    Routes::build(&specs, &instances())
}

const SMART: &str = r#"[smart]
strategy = "fallback"
targets = [{ model = "anthropic/claude-sonnet-4" }, { model = "groq/llama-3.3-70b", weight = 3 }]
fallback_on = ["rate_limited", "upstream_unavailable", "timeout", "upstream_error"]
context_window_fallback = "gemini/gemini-2.5-pro"
"#;

#[test]
fn the_documented_route_is_read_and_its_targets_split() {
    let routes = routes(SMART).unwrap();
    let smart = routes.get("smart").unwrap();
    assert_eq!(smart.strategy, Strategy::Fallback);
    let labels: Vec<String> = smart.targets.iter().map(Target::label).collect();
    assert_eq!(labels, ["anthropic/claude-sonnet-4", "groq/llama-3.3-70b"]);
    assert_eq!(smart.targets[1].weight, 3);
    assert_eq!(
        smart.context_window_fallback.as_ref().unwrap().label(),
        "gemini/gemini-2.5-pro"
    );
}

#[test]
fn an_unknown_instance_is_named_with_the_route_and_the_key() {
    let err = routes("[smart]\ntargets = [{ model = \"groc/llama\" }]\n").unwrap_err();
    assert_eq!(
        err,
        "routes.smart: targets: \"groc/llama\": no provider instance \"groc\" \
         (instances: anthropic, gemini, groq, local)"
    );
    let err = routes(
        "[smart]\ntargets = [{ model = \"groq/llama\" }]\ncontext_window_fallback = \"big/one\"\n",
    )
    .unwrap_err();
    assert!(
        err.starts_with("routes.smart: context_window_fallback: \"big/one\": no provider instance"),
        "{err}"
    );
}

#[test]
fn a_route_that_could_not_be_followed_is_refused_naming_why() {
    let cases = [
        ("[smart]\ntargets = []\n", "targets: must name at least one"),
        (
            "[smart]\ntargets = [{ model = \"groq\" }]\n",
            "expected \"<instance>/<model>\"",
        ),
        (
            "[smart]\ntargets = [{ model = \"groq/x\", weight = 0 }]\n",
            "weight must be at least 1",
        ),
        (
            "[smart]\ntargets = [{ model = \"groq/x\" }]\nfallback_on = [\"invalid_request\"]\n",
            "fallback_on: invalid_request is never retried on another target",
        ),
        (
            "[smart]\ntargets = [{ model = \"groq/x\" }]\nfallback_on = [\"context_length_exceeded\"]\n",
            "set context_window_fallback instead",
        ),
        (
            "[smart]\nstrategy = \"fastest\"\ntargets = [{ model = \"groq/x\" }]\n",
            "unknown variant `fastest`",
        ),
        (
            "[smart]\ntargets = [{ model = \"groq/x\" }]\ncooldown = { failures = 0 }\n",
            "cooldown.failures: must be at least 1",
        ),
        (
            "[smart]\ntargets = [{ model = \"groq/x\" }]\nfallback_on = [\"slow\"]\n",
            "unknown variant `slow`",
        ),
        (
            "[\"a/b\"]\ntargets = [{ model = \"groq/x\" }]\n",
            "routes.a/b: the alias",
        ),
    ];
    for (text, expected) in cases {
        let err = routes(text).unwrap_err();
        assert!(err.contains(expected), "{text}: {err}");
    }
}

fn failing_with(code: ErrorCode) -> Vec<Next<'static>> {
    let routes: &'static Routes = Box::leak(Box::new(routes(SMART).unwrap()));
    let mut walk = routes
        .get("smart")
        .unwrap()
        .walk(&mut rand::rng(), &Health::default());
    walk.first();
    (0..3).map(|_| walk.after(code)).collect()
}

#[test]
fn a_listed_failure_moves_to_the_next_target_until_none_is_left() {
    let next = failing_with(ErrorCode::RateLimited);
    assert!(matches!(next[0], Next::Try(t) if t.instance == "groq"));
    assert_eq!(next[1..], [Next::Stop, Next::Stop]);
}

#[test]
fn the_callers_fault_is_never_tried_elsewhere() {
    for code in [
        ErrorCode::InvalidRequest,
        ErrorCode::Unsupported,
        ErrorCode::ContentFiltered,
        ErrorCode::Authentication,
    ] {
        assert_eq!(failing_with(code)[0], Next::Stop, "{code:?}");
    }
}

#[test]
fn a_context_too_long_goes_to_the_context_window_fallback_once() {
    let next = failing_with(ErrorCode::ContextLengthExceeded);
    assert!(matches!(next[0], Next::Try(t) if t.instance == "gemini"));
    assert_eq!(next[1], Next::Stop);
}

#[test]
fn weighted_first_picks_follow_the_weights() {
    let routes = routes(
        "[w]\nstrategy = \"weighted\"\ntargets = [{ model = \"groq/a\", weight = 1 }, \
         { model = \"local/b\", weight = 3 }]\n",
    )
    .unwrap();
    let route = routes.get("w").unwrap();
    let mut rng = StdRng::seed_from_u64(13);
    let n = 10_000;
    let local = (0..n)
        .filter(|_| {
            route
                .walk(&mut rng, &Health::default())
                .first()
                .unwrap()
                .instance
                == "local"
        })
        .count();
    let share = local as f64 / n as f64;
    assert!((share - 0.75).abs() < 0.02, "{share}");
    // Every target is in the order once, whatever was drawn first.
    let mut walk = route.walk(&mut rng, &Health::default());
    walk.first();
    assert!(matches!(walk.after(ErrorCode::Timeout), Next::Try(_)));
    assert_eq!(walk.after(ErrorCode::Timeout), Next::Stop);
}

#[test]
fn least_busy_and_latency_put_the_idle_and_the_fast_target_first_and_skip_a_cooling_one() {
    let text = "[b]\nstrategy = \"least-busy\"\ntargets = [{ model = \"groq/a\" }, { model = \"local/b\" }]\n\
                [l]\nstrategy = \"latency\"\ntargets = [{ model = \"groq/a\" }, { model = \"local/b\" }]\n\
                [f]\ntargets = [{ model = \"groq/a\" }, { model = \"local/b\" }]\n\
                cooldown = { failures = 1 }\n";
    let routes = routes(text).unwrap();
    let health = Health::default();
    let first = |alias: &str| {
        let route = routes.get(alias).unwrap();
        route
            .walk(&mut rand::rng(), &health)
            .first()
            .map(Target::label)
    };
    assert_eq!(first("b").as_deref(), Some("groq/a"), "ties keep the order");
    let busy = health.begin("groq/a").unwrap();
    assert_eq!(first("b").as_deref(), Some("local/b"));
    busy.finish(
        health::Ended::Answered(std::time::Duration::from_millis(900)),
        &CooldownSpec::default(),
    );
    // local/b not measured yet: first, so that it gets measured.
    assert_eq!(first("l").as_deref(), Some("local/b"));
    health.begin("local/b").unwrap().finish(
        health::Ended::Answered(std::time::Duration::from_millis(10)),
        &CooldownSpec::default(),
    );
    assert_eq!(first("l").as_deref(), Some("local/b"));
    health.begin("local/b").unwrap().finish(
        health::Ended::Failed(&llmhost_store::task::TaskError::new(
            ErrorCode::UpstreamUnavailable,
            "down",
        )),
        &routes.get("f").unwrap().cooldown,
    );
    assert_eq!(first("l").as_deref(), Some("groq/a"), "local/b cools down");
    let mut walk = routes.get("f").unwrap().walk(&mut rand::rng(), &health);
    assert_eq!(walk.first().map(Target::label).as_deref(), Some("groq/a"));
    assert_eq!(
        walk.after(ErrorCode::Timeout),
        Next::Stop,
        "nothing else to try"
    );
}

#[tokio::test]
async fn latency_learns_the_time_to_first_token_not_to_the_whole_answer() {
    use std::time::Duration;
    let text = "[l]\nstrategy = \"latency\"\ntargets = [{ model = \"groq/a\" }, { model = \"local/b\" }]\n";
    let routes = routes(text).unwrap();
    let route = routes.get("l").unwrap();
    let health = Health::default();
    // groq/a streams: its first piece after 5 ms, the whole answer after
    // 200 ms. local/b answers whole after at least 50 ms.
    let answer = |target: &Target| {
        let streams = target.instance == "groq";
        async move {
            let whole = if streams { 200 } else { 50 };
            tokio::time::sleep(Duration::from_millis(whole)).await;
            Ok::<_, llmhost_store::task::TaskError>(Answered {
                value: (),
                first_token: streams.then(|| Duration::from_millis(5)),
            })
        }
    };
    // Each measured once (an unmeasured target is tried first).
    for _ in 0..2 {
        let (answered, attempts) = run(route, &health, answer).await;
        assert!(answered.is_ok());
        assert_eq!(attempts.len(), 1);
    }
    let latency = |label: &str| health.of(label).latency_ms.unwrap();
    assert!(
        (latency("groq/a") - 5.0).abs() < 1e-9,
        "{}",
        latency("groq/a")
    );
    assert!(latency("local/b") >= 50.0, "{}", latency("local/b"));
    let first = route
        .walk(&mut rand::rng(), &health)
        .first()
        .map(Target::label);
    assert_eq!(
        first.as_deref(),
        Some("groq/a"),
        "the first token comes sooner"
    );
}
