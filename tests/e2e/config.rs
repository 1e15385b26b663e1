//! `llmhost config check`: a good file prints the effective configuration
//! with secrets masked; a bad one exits non-zero naming the key and the
//! problem. Flags beat variables, which beat the file.

use crate::harness::run_llmhost;

fn write(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("llmhost.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_good_file_is_printed_as_the_effective_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "listen = \"0.0.0.0:9000\"\nworkers = 4\n\
         database_url = \"postgres://app:s3cret-pw@db.internal/llmhost\"\n\
         auth_tokens = [\"tok-aaaaaaaaaaaaaaaa\"]\n",
    );
    let out = run_llmhost(&["config", "check", &file], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(shown.contains("listen = \"0.0.0.0:9000\""), "{shown}");
    assert!(shown.contains("workers = 4"), "{shown}");
    assert!(
        shown.contains("lease_ms = 30000"),
        "defaults are shown: {shown}"
    );
    assert!(
        shown.contains("postgres://app:****@db.internal/llmhost"),
        "{shown}"
    );
    let everything = format!("{shown}{}", stderr(&out));
    assert!(!everything.contains("s3cret-pw"), "{everything}");
    assert!(!everything.contains("tok-aaaaaaaaaaaaaaaa"), "{everything}");
}

#[tokio::test]
async fn a_bad_file_exits_non_zero_naming_the_key_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("workers = 4\nworkerz = 5\n", "unknown field `workerz`"),
        (
            "lease_ms = \"soon\"\n",
            "lease_ms: invalid type: string \"soon\"",
        ),
        ("role = \"boss\"\n", "role: unknown variant `boss`"),
        (
            "max_attempts = 99\n",
            "max_attempts: must be between 1 and 20",
        ),
        (
            "listen = \"0.0.0.0:80\"\n",
            "auth_tokens: listening on 0.0.0.0:80",
        ),
        ("workers = [\n", "line "),
    ];
    for (text, expected) in cases {
        let file = write(dir.path(), text);
        let out = run_llmhost(&["config", "check", &file], &[]).await;
        assert!(!out.status.success(), "{text:?} was accepted");
        let err = stderr(&out);
        assert!(
            err.contains(expected),
            "{text:?}: expected {expected:?} in {err}"
        );
        let parse_error = !expected.contains("must") && !expected.contains("listening");
        if parse_error {
            assert!(err.contains("llmhost.toml"), "names the file: {err}");
        }
    }
}

#[tokio::test]
async fn flags_beat_variables_which_beat_the_file_which_beats_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "workers = 4\nlease_ms = 5000\n");
    let env = [("LLMHOST_CONFIG", file.as_str()), ("LLMHOST_WORKERS", "6")];
    let out = run_llmhost(&["config", "check", "--workers", "8"], &env).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("workers = 8"), "{}", stdout(&out));
    assert!(stdout(&out).contains("lease_ms = 5000"), "{}", stdout(&out));

    let out = run_llmhost(&["config", "check"], &env).await;
    assert!(stdout(&out).contains("workers = 6"), "{}", stdout(&out));

    let out = run_llmhost(&["config", "check", &file], &[]).await;
    assert!(stdout(&out).contains("workers = 4"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("max_attempts = 3"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn serve_refuses_a_non_loopback_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run_llmhost(&["serve", "--listen", "0.0.0.0:0", "--data-dir", data], &[]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("not a loopback address") && err.contains("--auth-token"),
        "{err}"
    );
}
