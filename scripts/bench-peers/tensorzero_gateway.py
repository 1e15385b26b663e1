"""Hosts TensorZero's gateway as its PyPI package ships it: the Rust
gateway embedded in this Python process, serving HTTP (its native and its
OpenAI-compatible endpoints) on a local port. Prints `listening URL` and
then sleeps in `signal.pause()`, so that the process's CPU time is the
gateway's own (the Python thread does nothing once the gateway is up).

Usage: python tensorzero_gateway.py CONFIG.toml
"""

import signal
import sys

import tensorzero

gateway = tensorzero._start_http_gateway(
    config_file=sys.argv[1],
    clickhouse_url=None,
    postgres_url=None,
    valkey_url=None,
    async_setup=False,
)
print("listening", gateway.base_url, flush=True)
while True:
    signal.pause()
