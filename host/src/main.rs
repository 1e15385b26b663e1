/// jemalloc instead of the system's malloc: 10-15 % less server CPU per
/// request and per task at the same memory, where mimalloc saved as much
/// but held ~45 MiB more under load (docs/performance.md, measured all
/// three ways).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    llmhost::main().await
}
