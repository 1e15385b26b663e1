# Everyday recipes. Each is a thin wrapper over cargo; nothing here is needed
# for the README's two commands.

# Start the server on the embedded database with the bundled plugins.
serve *ARGS:
    cargo run --release -- serve {{ARGS}}

# Run the whole test suite (PostgreSQL tests run when a server answers).
test:
    cargo test --workspace

# Run the tests against a specific PostgreSQL server.
test-pg URL="postgres://postgres@127.0.0.1:5432/test":
    LLMHOST_TEST_POSTGRES_URL={{URL}} CI=true cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cd plugins && cargo fmt --all --check && cargo clippy --target wasm32-wasip2 --all-targets --target-dir ../target/plugins-clippy -- -D warnings

# What CI runs (lints, the whole suite with PostgreSQL, the API fuzz run);
# best on a clean clone, as CI does.
ci:
    .ci/run

# Build the bundled plugins alone (the host build does this too).
plugins:
    rustup target add wasm32-wasip2
    cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml

# Conformance of every bundled provider, with its own cases (the e2e tests
# run the same).
conformance:
    cargo build --workspace --bin llmhost
    for p in echo openai anthropic ollama gemini; do target/debug/llmhost conformance target/plugins/$p.wasm --cases plugins/$p/conformance || exit 1; done

# Fuzz the REST API from its OpenAPI document (schemathesis in a venv).
fuzz-api:
    scripts/fuzz-api

# Benchmarks (never part of the tests): the in-process echo call, the async
# path over HTTP on SQLite and PostgreSQL and memory, the synchronous
# endpoint and the openai plugin's added latency, the dashboard's reads on
# 100,000 tasks, start-up. Results and the
# machine they ran on (and its load) belong in docs/performance.md.
bench:
    cargo bench --bench echo_call
    cargo bench --bench async_path
    cargo bench --bench sync_path
    cargo bench --bench dashboard
    scripts/bench-startup

# llmhost beside TensorZero and LiteLLM proxy in front of one mock upstream,
# alternating rounds, servers and load pinned to separate cores; installs the
# peers into target/bench-peers/venv and writes its tables into
# docs/performance.md (settings: scripts/bench-peers/bench_peers.py).
bench-peers:
    scripts/bench-peers/run

# Start-up time with a cold and a warm compiled-plugin cache.
bench-startup:
    scripts/bench-startup
