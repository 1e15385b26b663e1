#[tokio::main]
async fn main() -> std::process::ExitCode {
    llmhost::main().await
}
