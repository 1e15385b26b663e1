use super::*;
use crate::runtime::manifest::Manifest;

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
