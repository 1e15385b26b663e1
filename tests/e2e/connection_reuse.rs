//! Upstream connections are kept and reused: after the first call, a
//! provider's requests to its upstream travel on the connection the first
//! one opened (counted by the mock's accepts), whole or streamed, and each
//! still carries the host's credential. An upstream that speaks h2 (over
//! TLS, its certificate from a CA the operator added) carries concurrent
//! calls on that one connection too.

use std::time::Duration;

use serde_json::Value;

use crate::harness::Server;
use crate::mock_vendors::{ANSWER, MockVendor, TestCa, Vendor};
use crate::providers::{chat, post_chat, serve, serve_with};

/// `n` whole calls, then `n` streamed ones, each answered in full before
/// the next is sent.
async fn calls_one_after_another(server: &Server, vendor: Vendor, n: usize) {
    for stream in [false, true] {
        for _ in 0..n {
            let response = post_chat(server, &chat(vendor, "ok", stream)).await;
            assert_eq!(response.status(), 200);
            let text = response.text().await.unwrap();
            if stream {
                assert!(text.contains("data: [DONE]"), "{text}");
            } else {
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["choices"][0]["message"]["content"], ANSWER);
            }
        }
    }
}

#[tokio::test]
async fn a_providers_calls_after_the_first_open_no_upstream_connection() {
    let vendor = Vendor::OpenAi;
    let mock = MockVendor::start(vendor).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("sk-reuse-{}", std::process::id());
    let server = serve(dir.path(), vendor, &mock, &secret).await;

    calls_one_after_another(&server, vendor, 5).await;
    let requests = mock.requests();
    assert_eq!(requests.len(), 10);
    assert_eq!(
        mock.connections(),
        1,
        "ten sequential calls, one upstream connection"
    );
    let credential = format!("Bearer {secret}");
    for request in &requests {
        assert_eq!(request.header("authorization"), [credential.as_str()]);
    }
}

#[tokio::test]
async fn concurrent_calls_to_an_h2_upstream_behind_a_private_ca_share_one_connection() {
    let vendor = Vendor::OpenAi;
    let ca = TestCa::new();
    let mock = MockVendor::start_tls(vendor, &ca).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_root(dir.path());
    let secret = format!("sk-h2-{}", std::process::id());
    let flags = ["--upstream-ca-file", ca_file.to_str().unwrap()];
    let server = serve_with(dir.path(), vendor, &mock, &secret, &flags).await;

    // Eight calls held open by the mock at once, then let go.
    const AT_ONCE: usize = 8;
    let gated = chat(vendor, "gated", false);
    let calls = (0..AT_ONCE).map(|_| post_chat(&server, &gated));
    let release = async {
        let all_arrived = async {
            while mock.requests_for("gated").len() < AT_ONCE {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), all_arrived)
            .await
            .expect("every call reaches the upstream while the others wait");
        for _ in 0..AT_ONCE {
            mock.release();
        }
    };
    let (responses, ()) = tokio::join!(futures::future::join_all(calls), release);
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], ANSWER);
    }
    calls_one_after_another(&server, vendor, 3).await;

    let requests = mock.requests();
    assert_eq!(requests.len(), AT_ONCE + 6);
    assert_eq!(
        mock.connections(),
        1,
        "{AT_ONCE} concurrent and six sequential calls, one h2 connection"
    );
    let credential = format!("Bearer {secret}");
    for request in &requests {
        assert_eq!(request.version, "HTTP/2.0");
        assert_eq!(request.header("authorization"), [credential.as_str()]);
    }
}
