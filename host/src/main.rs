#[tokio::main]
async fn main() -> std::process::ExitCode {
    llmhost::cli::main().await
}
