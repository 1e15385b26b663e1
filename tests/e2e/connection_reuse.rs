//! Upstream connections are kept and reused: after the first call, a
//! provider's requests to its upstream travel on the connection the first
//! one opened (counted by the mock's accepts), whole or streamed, and each
//! still carries the host's credential.

use serde_json::Value;

use crate::mock_vendors::{ANSWER, MockVendor, Vendor};
use crate::providers::{chat, post_chat, serve};

#[tokio::test]
async fn a_providers_calls_after_the_first_open_no_upstream_connection() {
    let vendor = Vendor::OpenAi;
    let mock = MockVendor::start(vendor).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("sk-reuse-{}", std::process::id());
    let server = serve(dir.path(), vendor, &mock, &secret).await;

    for stream in [false, true] {
        for _ in 0..5 {
            let response = post_chat(&server, &chat(vendor, "ok", stream)).await;
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
