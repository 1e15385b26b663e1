use super::*;
use crate::manifest::Manifest;

fn policy(toml: &str) -> EgressPolicy {
    EgressPolicy::from_manifest(&Manifest::parse(toml).unwrap()).unwrap()
}

async fn check(policy: &EgressPolicy, url: &str) -> Result<Target, String> {
    policy.check(&url.parse().unwrap()).await
}

#[tokio::test]
async fn nothing_is_allowed_by_default() {
    let p = policy("");
    assert!(check(&p, "https://api.openai.com/v1/chat").await.is_err());
}

#[tokio::test]
async fn origins_match_on_scheme_host_and_port_with_subdomain_wildcards() {
    let p = policy(
        r#"[egress]
allow = ["http://127.0.0.1:9000", "https://*.example.com"]"#,
    );
    assert!(check(&p, "http://127.0.0.1:9000/x").await.is_ok());
    assert!(
        check(&p, "http://127.0.0.1:9001/x")
            .await
            .unwrap_err()
            .contains("not an allowed origin")
    );
    assert!(
        check(&p, "https://127.0.0.1:9000/x").await.is_err(),
        "scheme matters"
    );
    assert!(check(&p, "http://example.com/").await.is_err());
    assert!(
        check(&p, "https://example.com/").await.is_err(),
        "the wildcard needs a subdomain"
    );
    assert!(check(&p, "https://evil-example.com/").await.is_err());
}

#[tokio::test]
async fn an_ip_literal_is_matched_as_an_address_never_by_a_wildcard() {
    let refused = EgressPolicy::from_manifest(
        &Manifest::parse("[egress]\nallow = [\"http://*.0.0.1\"]").unwrap(),
    )
    .err()
    .expect("a wildcard over address digits is refused");
    assert!(
        refused.to_string().contains("not IP addresses"),
        "{refused}"
    );

    let p = policy(
        r#"[egress]
allow = ["http://*.example.com", "http://[::1]:9000"]
allow_addresses = ["0.0.0.0/0", "::/0"]"#,
    );
    // Even with every address allowed, a wildcard admits names only.
    let err = check(&p, "http://127.0.0.1/").await.unwrap_err();
    assert!(err.contains("not an allowed origin"), "{err}");
    let err = check(&p, "http://[::ffff:93.184.216.34]/")
        .await
        .unwrap_err();
    assert!(err.contains("not an allowed origin"), "{err}");
    // The same address, spelled differently, is the same origin.
    assert!(check(&p, "http://[0:0::1]:9000/").await.is_ok());
}

#[tokio::test]
async fn a_host_resolving_to_a_refused_address_is_denied_unless_named() {
    let p = policy(
        r#"[egress]
allow = ["http://localhost:9000"]"#,
    );
    let err = check(&p, "http://localhost:9000/").await.unwrap_err();
    assert!(err.contains("loopback"), "{err}");
    let p = policy(
        r#"[egress]
allow = ["http://localhost:9000"]
allow_addresses = ["127.0.0.0/8", "::1"]"#,
    );
    assert!(check(&p, "http://localhost:9000/").await.is_ok());
}

#[tokio::test]
async fn metadata_and_private_literals_are_refused_unless_listed() {
    let p = policy(
        r#"[egress]
allow = ["http://*.internal", "http://169.254.169.254"]"#,
    );
    // A literal origin names its address explicitly.
    assert!(check(&p, "http://169.254.169.254/latest").await.is_ok());
    for ip in [
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
    ] {
        assert!(address::refused_kind(ip.parse().unwrap()).is_some(), "{ip}");
    }
    for ip in ["::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1"] {
        assert!(address::refused_kind(ip.parse().unwrap()).is_some(), "{ip}");
    }
    assert!(address::refused_kind("93.184.216.34".parse().unwrap()).is_none());
}

#[test]
fn a_secret_for_an_origin_outside_the_allow_list_is_refused() {
    let manifest = Manifest::parse(
        r#"[egress]
allow = ["https://api.example.com"]
[[secret]]
origin = "https://elsewhere.example.com"
header = "authorization"
value = "Bearer x""#,
    )
    .unwrap();
    let err = EgressPolicy::from_manifest(&manifest)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not in egress.allow"), "{err}");
}

#[test]
fn secrets_are_added_only_to_their_origin() {
    let p = policy(
        r#"[egress]
allow = ["https://api.example.com", "https://other.example.com"]
[[secret]]
origin = "https://api.example.com"
header = "authorization"
value = "Bearer k""#,
    );
    let mut to_api = http::Request::get("https://api.example.com/v1")
        .body(())
        .unwrap();
    p.inject_secrets(&mut to_api);
    assert_eq!(to_api.headers()["authorization"], "Bearer k");
    let mut elsewhere = http::Request::get("https://other.example.com/v1")
        .body(())
        .unwrap();
    p.inject_secrets(&mut elsewhere);
    assert!(elsewhere.headers().get("authorization").is_none());
}

#[test]
fn a_secret_pinned_to_paths_goes_only_to_them() {
    let p = policy(
        r#"[egress]
allow = ["https://api.example.com"]
[[secret]]
origin = "https://api.example.com"
header = "authorization"
value = "Bearer k"
paths = ["/v1/"]"#,
    );
    let with = |url: &str| {
        let mut request = http::Request::get(url).body(()).unwrap();
        p.inject_secrets(&mut request);
        request.headers().get("authorization").cloned()
    };
    assert_eq!(
        with("https://api.example.com/v1/chat?x=1").unwrap(),
        "Bearer k"
    );
    assert!(with("https://api.example.com/reflect").is_none());
    assert!(with("https://api.example.com/v1/../reflect").is_none());
    assert!(with("https://api.example.com/v1/%2e%2e/reflect").is_none());

    let manifest = Manifest::parse(
        "[egress]\nallow = [\"https://a.example\"]\n[[secret]]\norigin = \"https://a.example\"\n\
         header = \"x-key\"\nvalue = \"k\"\npaths = [\"v1\"]",
    )
    .unwrap();
    let err = EgressPolicy::from_manifest(&manifest)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("secret for https://a.example: paths"), "{err}");
}

#[test]
fn a_secret_whose_variable_is_unset_is_left_out_but_stays_reserved() {
    let p = policy(
        r#"[egress]
allow = ["https://api.example.com"]
[[secret]]
origin = "https://api.example.com"
header = "x-api-key"
value = "${LLMHOST_TEST_SURELY_UNSET_VARIABLE}""#,
    );
    let mut request = http::Request::get("https://api.example.com/v1")
        .body(())
        .unwrap();
    p.inject_secrets(&mut request);
    assert!(request.headers().get("x-api-key").is_none());
    assert_eq!(
        p.secret_header_names(),
        [HeaderName::from_static("x-api-key")]
    );
}

/// For a scripted upstream (conformance, inspect) no secret is read, but
/// its header stays the host's: a plugin that set it itself would pass
/// there and be refused on the server.
#[test]
fn without_secret_values_the_headers_stay_reserved() {
    let manifest = Manifest::parse(
        r#"[egress]
allow = ["https://api.example.com"]
[[secret]]
origin = "https://api.example.com"
header = "x-api-key"
value = "k""#,
    )
    .unwrap();
    let p = EgressPolicy::from_manifest_without_secret_values(&manifest).unwrap();
    let mut request = http::Request::get("https://api.example.com/v1")
        .body(())
        .unwrap();
    p.inject_secrets(&mut request);
    assert!(request.headers().get("x-api-key").is_none(), "not read");
    assert_eq!(
        p.secret_header_names(),
        [HeaderName::from_static("x-api-key")]
    );
}

mod scripted_upstream {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use wasmtime_wasi_http::{Error, WasiBody, WasiHttpHooks};

    use super::policy;
    use crate::egress::{EgressHooks, Exchange, IncidentLog, Reply, ScriptedUpstream};

    fn exchange(status: u16, body: &str, reply: Reply) -> Exchange {
        Exchange {
            status,
            headers: vec![("retry-after".into(), "2".into())],
            body: Bytes::from(body.to_owned()),
            reply,
        }
    }

    /// Sends one request through the hooks of a scripted policy; the body
    /// read whole, or the error.
    async fn send(
        script: &Arc<ScriptedUpstream>,
        incidents: &IncidentLog,
        url: &str,
    ) -> Result<(u16, Result<Bytes, Error>), Error> {
        // `.invalid` never resolves: an answer proves nothing was resolved.
        let policy = policy(
            "[egress]\nallow = [\"https://api.example.invalid\"]\nfirst_byte_timeout_ms = 200\n",
        )
        .with_script(script.clone());
        let mut hooks = EgressHooks::new(Arc::new(policy), incidents.clone(), "test".into());
        let body: WasiBody = Full::new(Bytes::from_static(b"{\"prompt\":\"hi\"}"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::post(url).body(body).unwrap();
        let future = hooks.send_request(request, None, Box::new(async { Ok(()) }));
        let (response, _io) = Box::into_pin(future).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        Ok((status, body))
    }

    #[tokio::test]
    async fn answers_from_the_script_and_records_every_request_without_the_network() {
        let script = Arc::new(ScriptedUpstream::default());
        script.reset(
            vec![
                exchange(429, "slow down", Reply::Complete),
                exchange(200, "{\"text\":\"hi\"}", Reply::Complete),
            ],
            None,
        );
        let incidents = IncidentLog::default();
        let url = "https://api.example.invalid/v1/complete";
        let (status, body) = send(&script, &incidents, url).await.unwrap();
        assert_eq!((status, body.unwrap()), (429, Bytes::from("slow down")));
        for _ in 0..2 {
            // The last exchange answers every further request.
            let (status, _) = send(&script, &incidents, url).await.unwrap();
            assert_eq!(status, 200);
        }
        let seen = script.seen();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].uri, url);
        assert_eq!(seen[0].body, Bytes::from_static(b"{\"prompt\":\"hi\"}"));
        assert!(seen.iter().all(|r| r.allowed.is_ok()));
        assert_eq!(incidents.first(), None);
    }

    #[tokio::test]
    async fn an_origin_outside_the_manifest_is_refused_recorded_and_reported() {
        let script = Arc::new(ScriptedUpstream::default());
        script.reset(vec![exchange(200, "ok", Reply::Complete)], None);
        let incidents = IncidentLog::default();
        let refused = send(
            &script,
            &incidents,
            "https://telemetry.example.invalid/ping",
        )
        .await;
        assert!(matches!(refused, Err(Error::HttpRequestDenied)));
        let seen = script.seen();
        assert!(
            seen[0]
                .allowed
                .as_ref()
                .unwrap_err()
                .contains("not an allowed origin")
        );
        assert!(matches!(
            incidents.first(),
            Some(super::Incident::Denied(_))
        ));
    }

    #[tokio::test]
    async fn a_hang_ends_at_the_first_byte_timeout_and_a_cut_short_body_fails_mid_read() {
        let script = Arc::new(ScriptedUpstream::default());
        let incidents = IncidentLog::default();
        let url = "https://api.example.invalid/v1/complete";
        script.reset(
            vec![exchange(200, "", Reply::Hang)],
            Some(Duration::from_millis(50)),
        );
        let started = Instant::now();
        let hung = send(&script, &incidents, url).await;
        assert!(matches!(hung, Err(Error::ConnectionReadTimeout)));
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "the shorter timeout applies"
        );
        assert!(matches!(
            incidents.first(),
            Some(super::Incident::Timeout(_))
        ));

        script.reset(
            vec![exchange(200, "{\"text\":\"hello\"}", Reply::CutShort)],
            None,
        );
        let (status, body) = send(&script, &IncidentLog::default(), url).await.unwrap();
        assert_eq!(status, 200);
        assert!(body.is_err(), "the body breaks off");
    }
}
