use super::file::parse;
use super::*;

#[test]
fn a_file_sets_what_it_names_and_leaves_the_defaults_for_the_rest() {
    let settings = parse(
        "workers = 4\nrole = \"worker\"\nauth_tokens = [\"0123456789abcdef\"]\n\
         database_url = \"postgres://app:hunter2@db/llmhost\"\n",
    )
    .unwrap();
    assert_eq!(settings.workers, 4);
    assert_eq!(settings.role, Role::Worker);
    assert_eq!(settings.lease_ms, Settings::default().lease_ms);
    assert_eq!(settings.auth_tokens[0].expose(), "0123456789abcdef");
    settings.validate().unwrap();
}

#[test]
fn an_unknown_key_is_named() {
    let err = parse("workers = 4\nwokrers = 5\n").unwrap_err();
    assert!(err.contains("unknown field `wokrers`"), "{err}");
    assert!(err.starts_with("line 2"), "{err}");
}

#[test]
fn a_value_of_the_wrong_type_names_its_key() {
    let err = parse("lease_ms = \"long\"\n").unwrap_err();
    assert!(err.contains("lease_ms: invalid type"), "{err}");
    let err = parse("listen = \"nowhere\"\n").unwrap_err();
    assert!(err.contains("listen: "), "{err}");
}

#[test]
fn a_bad_value_names_its_key_and_the_rule() {
    let settings = parse("workers = 0\n").unwrap();
    assert_eq!(
        settings.validate().unwrap_err().to_string(),
        "workers: must be at least 1"
    );
    let settings = parse("auth_tokens = [\"short\"]\n").unwrap();
    let err = settings.validate().unwrap_err().to_string();
    assert!(
        err.starts_with("auth_tokens: token 1: must be at least 16"),
        "{err}"
    );
}

/// A worker-only process, on the only database it can share.
const WORKER: &str = "role = \"worker\"\ndatabase_url = \"postgres://db/llmhost\"\n";

#[test]
fn an_api_or_worker_alone_on_the_embedded_database_is_refused_naming_the_way_out() {
    for role in ["api", "worker"] {
        for db in ["", "database_url = \"sqlite:///tmp/x.db\"\n"] {
            let settings = parse(&format!("role = \"{role}\"\n{db}")).unwrap();
            let err = settings.validate().unwrap_err();
            assert_eq!(err.key, "role");
            assert!(
                err.problem
                    .contains(&format!("--role {role} needs PostgreSQL")),
                "{err}"
            );
            assert!(err.problem.contains("use --role all"), "{err}");
        }
    }
    parse("role = \"all\"\n").unwrap().validate().unwrap();
    parse(WORKER).unwrap().validate().unwrap();
}

#[test]
fn listening_beyond_loopback_needs_a_token_unless_the_process_serves_no_http() {
    let open = parse("listen = \"0.0.0.0:8080\"\n").unwrap();
    let err = open.validate().unwrap_err();
    assert_eq!(err.key, "auth_tokens");
    assert!(err.problem.contains("0.0.0.0:8080"), "{err}");
    let worker = parse(&format!("listen = \"0.0.0.0:8080\"\n{WORKER}")).unwrap();
    worker.validate().unwrap();
    let guarded = parse("listen = \"[::]:8080\"\nauth_tokens = [\"0123456789abcdef\"]\n").unwrap();
    guarded.validate().unwrap();
}

#[test]
fn metrics_beyond_loopback_need_a_token_even_on_a_worker() {
    let open = parse(&format!("{WORKER}metrics_listen = \"0.0.0.0:9100\"\n")).unwrap();
    let err = open.validate().unwrap_err();
    assert_eq!(err.key, "auth_tokens");
    assert!(err.problem.contains("metrics on 0.0.0.0:9100"), "{err}");
    let local = parse(&format!("{WORKER}metrics_listen = \"127.0.0.1:9100\"\n")).unwrap();
    local.validate().unwrap();
}

#[test]
fn the_printed_configuration_masks_passwords_and_tokens() {
    let settings = parse(
        "auth_tokens = [\"0123456789abcdef\"]\n\
         database_url = \"postgres://app:hunter2@db/llmhost?sslmode=require&password=other\"\n",
    )
    .unwrap();
    let shown = settings.to_masked_toml();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("other"), "{shown}");
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(
        shown.contains("postgres://app:****@db/llmhost?sslmode=require&password=****"),
        "{shown}"
    );
    assert!(format!("{settings:?}").find("hunter2").is_none());
}

#[test]
fn an_unchanged_database_url_is_shown_as_written() {
    let url = DatabaseUrl::new("sqlite://.llmhost/llmhost.db");
    assert_eq!(url.masked(), "sqlite://.llmhost/llmhost.db");
}

#[test]
fn an_upstream_ca_file_that_is_missing_or_holds_no_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for (path, says) in [(&missing, "No such file"), (&empty, "holds no certificate")] {
        let settings = parse(&format!(
            "upstream_ca_file = {:?}\n",
            path.display().to_string()
        ))
        .unwrap();
        let err = settings.validate().unwrap_err();
        assert_eq!(err.key, "upstream_ca_file");
        assert!(err.problem.contains(&path.display().to_string()), "{err}");
        assert!(err.problem.contains(says), "{err}");
    }
}
