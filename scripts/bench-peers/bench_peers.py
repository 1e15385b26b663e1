#!/usr/bin/env python3
"""The peer benchmark (`just bench-peers`; never part of the tests).

llmhost, TensorZero's gateway and LiteLLM proxy, each in front of the same
cheap OpenAI-compatible mock upstream, measured in one run with alternating
rounds: every round calls the mock directly and then each gateway, in an
order that rotates from round to round, so that drift in the machine's load
hits all of them alike. The servers run pinned to one core (SERVER_CPUS),
the load generator and the mock to another (LOAD_CPUS).

Measured, per gateway:
- added latency over calling the mock directly, p50/p99, at each concurrency
  (closed loop over keep-alive connections);
- server CPU per request: user + system time of the gateway's processes
  (all threads) over each measured window, from /proc/<pid>/stat;
- upstream connections per request, counted where the mock accepts them;
- streaming: time to first token (added over direct) and CPU per chunk;
- idle CPU (over IDLE_SECONDS) and RSS, idle and after the load;
- and for llmhost alone, the async path (tasks/s on SQLite and PostgreSQL,
  server CPU per task) from the same load generator.

It writes the tables to target/bench-peers/results.md and, unless
WRITE_DOCS=0, into docs/performance.md between its markers, with the machine
and its load (`uptime` before and after).

Settings (environment): CONCURRENCY (1,8,64), STREAM_CONCURRENCY (1,8),
ROUNDS (3), SECONDS per round (2), IDLE_SECONDS (60), PEERS
(tensorzero,litellm), SECTIONS (peers,async), ASYNC_STORES (sqlite,postgres),
ASYNC_TASKS (20000), ASYNC_RUNS (3), ASYNC_CONCURRENCY (64), ASYNC_WORKERS
(16), ASYNC_PIN (0: the async server may use every core, as in production),
SERVER_CPUS (1), LOAD_CPUS (0), LLMHOST_BIN and BENCH_BIN (skip the build),
LLMHOST_TEST_POSTGRES_URL, LOAD_NOTE (a sentence on what else ran), PEERS_VENV
(default target/bench-peers/venv), LLMHOST_BEFORE_BIN and LLMHOST_BEFORE_LABEL
(an earlier llmhost build measured beside this one, for a before/after).
"""

import datetime
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = ROOT / "target" / "bench-peers"
DOCS = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench-peers:begin -->", "<!-- bench-peers:end -->"

PROMPT = "Say hello."
MESSAGES = [{"role": "user", "content": PROMPT}]
# The mock's answer (scripts/bench-peers and bench/src/mock.rs agree).
ANSWER = "Hello from the mock upstream."
CHUNKS = 20
CHUNK_GAP_US = 1000


def env_list(name, default):
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid):
    """The process and all its descendants (a server that forks workers is
    measured whole)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Server:
    """A child process in its own session, pinned with taskset; stopped with
    its whole process group."""

    def __init__(self, name, argv, cpus, env=None, log_path=None, cwd=None):
        self.name = name
        self.log_path = log_path or WORK / f"{name}.log"
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        prefix = ["taskset", "-c", cpus] if cpus else []
        self.proc = subprocess.Popen(
            prefix + argv,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            text=True,
        )
        self.url = None

    def wait_for_line(self, pattern, timeout=120):
        """Reads stdout until a line matches; returns the match."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited: see {self.log_path}")
            m = re.search(pattern, line)
            if m:
                # Keep draining stdout so the server never blocks on it.
                threading.Thread(target=self._drain, daemon=True).start()
                return m
        raise RuntimeError(f"{self.name} did not start within {timeout}s")

    def _drain(self):
        for _ in self.proc.stdout:
            pass

    def pids(self):
        return descendants(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.log.close()


def wait_http(url, timeout=180):
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


# ---------------------------------------------------------------- set-up


def build():
    llmhost = os.environ.get("LLMHOST_BIN")
    bench = os.environ.get("BENCH_BIN")
    if not (llmhost and bench):
        log("building llmhost and llmhost-bench in release ...")
        subprocess.run(
            ["cargo", "build", "--release", "-p", "llmhost", "-p", "llmhost-bench", "--bins"],
            cwd=ROOT,
            check=True,
        )
    target = ROOT / "target" / "release"
    return Path(llmhost or target / "llmhost"), Path(bench or target / "llmhost-bench")


def venv():
    """target/bench-peers/venv with the pinned peers; reinstalled only when
    requirements.txt changed."""
    path = Path(os.environ.get("PEERS_VENV", WORK / "venv"))
    requirements = HERE / "requirements.txt"
    marker = path / "requirements.installed"
    wanted = requirements.read_text()
    if marker.exists() and marker.read_text() == wanted:
        return path
    log("installing the peers into", path, "...")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
    subprocess.run(
        [str(path / "bin" / "pip"), "install", "-q", "-r", str(requirements)], check=True
    )
    marker.write_text(wanted)
    return path


def installed_version(venv_path, package):
    out = subprocess.run(
        [str(venv_path / "bin" / "pip"), "show", package], capture_output=True, text=True
    ).stdout
    m = re.search(r"^Version: (.+)$", out, re.M)
    return m.group(1) if m else "?"


def machine():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    def field(name):
        m = re.search(rf"^{re.escape(name)}:\s+(.+)$", lscpu, re.M)
        return m[1] if m else "?"

    cpus, threads = field("CPU(s)"), field("Thread(s) per core")
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "cpu": f"{field('Model name')} ({field('Vendor ID')}, family {field('CPU family')}, "
        f"model {field('Model')}), {cpus} CPUs, {threads} thread per core, "
        f"{field('Hypervisor vendor')} guest",
        "kernel": platform.release(),
        "memory": f"{mem / 1024 / 1024:.0f} GiB",
        "rustc": rustc,
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------- targets


class Target:
    """One way to reach the mock: directly or through a gateway."""

    def __init__(self, name, label, server, url, model, headers=(), expect=ANSWER):
        self.name, self.label, self.server = name, label, server
        self.url, self.model, self.headers, self.expect = url, model, list(headers), expect

    def body(self, stream):
        body = {"model": self.model, "messages": MESSAGES}
        if stream:
            body["stream"] = True
        return json.dumps(body)


def start_targets(llmhost_bin, bench_bin, venv_path, peers, server_cpus, load_cpus, scratch):
    mock = Server(
        "mock",
        [str(bench_bin), "mock", "--chunks", str(CHUNKS), "--chunk-gap-us", str(CHUNK_GAP_US)],
        load_cpus,
    )
    mock_url = mock.wait_for_line(r"mock listening on (http://\S+)")[1]
    servers = [mock]
    targets = [Target("direct", "mock upstream, called directly", mock, f"{mock_url}/v1/chat/completions", "ok")]

    # llmhost: the bundled openai plugin pointed at the mock (its manifest
    # allows the origin and adds the credential), and the echo plugin for the
    # path with no upstream at all.
    def llmhost_plugins(binary, name):
        plugins = scratch / name
        plugins.mkdir()
        # Where the build puts the bundled plugins (target/plugins), or
        # beside an installed binary.
        bundled = next(
            d
            for d in (binary.parent.parent / "plugins", binary.parent / "plugins")
            if (d / "openai.wasm").exists()
        )
        for plugin in ("openai", "echo"):
            shutil.copy(bundled / f"{plugin}.wasm", plugins / f"{plugin}.wasm")
        (plugins / "openai.toml").write_text(
            f"""[egress]
allow = ["{mock_url}"]

[[secret]]
origin = "{mock_url}"
header = "authorization"
value = "Bearer ${{LLMHOST_BENCH_KEY}}"

[config]
base_url = "{mock_url}/v1"
"""
        )
        return plugins

    plugins = llmhost_plugins(llmhost_bin, "llmhost-plugins")
    llmhost = Server(
        "llmhost",
        [
            str(llmhost_bin),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(scratch / "llmhost-data"),
            "--plugins-dir",
            str(plugins),
        ],
        server_cpus,
        env={"RUST_LOG": "warn", "LLMHOST_BENCH_KEY": "sk-bench"},
    )
    base = llmhost.wait_for_line(r"llmhost listening on (http://\S+)")[1]
    servers.append(llmhost)
    targets.append(Target("llmhost", "llmhost, `openai` plugin", llmhost, f"{base}/v1/chat/completions", "openai/ok"))
    targets.append(
        Target(
            "llmhost-echo",
            "llmhost, `echo` plugin (no upstream)",
            llmhost,
            f"{base}/v1/chat/completions",
            "echo/echo",
            expect=PROMPT,
        )
    )

    before_bin = os.environ.get("LLMHOST_BEFORE_BIN")
    if before_bin:
        # An earlier build beside this one, same plugins and manifest: a
        # before/after in one run.
        before = Server(
            "llmhost-before",
            [
                before_bin,
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                str(scratch / "llmhost-before-data"),
                "--plugins-dir",
                str(llmhost_plugins(Path(before_bin), "llmhost-before-plugins")),
            ],
            server_cpus,
            env={"RUST_LOG": "warn", "LLMHOST_BENCH_KEY": "sk-bench"},
        )
        before_base = before.wait_for_line(r"llmhost listening on (http://\S+)")[1]
        servers.append(before)
        label = os.environ.get("LLMHOST_BEFORE_LABEL", "llmhost before")
        targets.append(
            Target(
                "llmhost-before",
                f"{label}, `openai` plugin",
                before,
                f"{before_base}/v1/chat/completions",
                "openai/ok",
            )
        )

    python = str(venv_path / "bin" / "python")
    if "tensorzero" in peers:
        config = scratch / "tensorzero.toml"
        config.write_text(
            f"""[gateway]
observability.enabled = false

[models.ok]
routing = ["mock"]

[models.ok.providers.mock]
type = "openai"
model_name = "ok"
api_base = "{mock_url}/v1/"
api_key_location = "env::OPENAI_API_KEY"
"""
        )
        tz = Server(
            "tensorzero",
            [python, str(HERE / "tensorzero_gateway.py"), str(config)],
            server_cpus,
            env={"RUST_LOG": "warn", "OPENAI_API_KEY": "sk-bench"},
        )
        tz_url = tz.wait_for_line(r"listening (http://[^/\s]+)")[1]
        servers.append(tz)
        targets.append(
            Target(
                "tensorzero",
                "TensorZero gateway, OpenAI-compatible endpoint",
                tz,
                f"{tz_url}/openai/v1/chat/completions",
                "tensorzero::model_name::ok",
            )
        )

    if "litellm" in peers:
        port = free_port()
        master_key = "sk-" + secrets.token_hex(16)
        config = scratch / "litellm.yaml"
        config.write_text(
            f"""model_list:
  - model_name: ok
    litellm_params:
      model: openai/ok
      api_base: {mock_url}/v1
      api_key: sk-bench
litellm_settings:
  telemetry: false
general_settings:
  master_key: {master_key}
"""
        )
        litellm = Server(
            "litellm",
            [
                str(venv_path / "bin" / "litellm"),
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            server_cpus,
            # No network here: use the bundled price map instead of fetching it.
            env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"},
        )
        servers.append(litellm)
        wait_http(f"http://127.0.0.1:{port}/health/liveliness")
        targets.append(
            Target(
                "litellm",
                "LiteLLM proxy",
                litellm,
                f"http://127.0.0.1:{port}/v1/chat/completions",
                "ok",
                headers=[f"authorization: Bearer {master_key}"],
            )
        )
    return mock, mock_url, servers, targets


# ---------------------------------------------------------------- measuring


def load(bench_bin, load_cpus, target, mock_url, concurrency, seconds, warmup, stream, samples):
    argv = [
        "taskset",
        "-c",
        load_cpus,
        str(bench_bin),
        "load",
        "--url",
        target.url,
        "--body",
        target.body(stream),
        "--concurrency",
        str(concurrency),
        "--seconds",
        str(seconds),
        "--warmup-seconds",
        str(warmup),
        "--expect",
        target.expect,
        "--mock-stats",
        f"{mock_url}/stats",
        "--samples",
        str(samples),
    ]
    for header in target.headers:
        argv += ["--header", header]
    for pid in target.server.pids():
        argv += ["--pid", str(pid)]
    if stream:
        argv.append("--stream")
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"load against {target.name} failed: {out.stderr}")
    result = json.loads(out.stdout)
    result["samples"] = [
        [int(v) for v in line.split()] for line in Path(samples).read_text().splitlines()
    ]
    return result


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[round((len(values) - 1) * q)]


class Tally:
    """What the rounds of one (target, concurrency, mode) add up to."""

    def __init__(self):
        self.runs = []

    def add(self, run):
        self.runs.append(run)

    def total(self, key):
        return sum(r[key] or 0 for r in self.runs)

    @property
    def requests(self):
        return self.total("requests")

    def latencies(self):
        return [s[0] for r in self.runs for s in r["samples"]]

    def ttfts(self):
        return [s[1] for r in self.runs for s in r["samples"] if len(s) > 1]

    def rate(self):
        seconds = self.total("seconds")
        return self.requests / seconds if seconds else 0

    def per_request(self, key):
        return self.total(key) / self.requests if self.requests else None

    def errors(self):
        first = next((r["first_error"] for r in self.runs if r["first_error"]), None)
        return self.total("errors"), first


def rounds(bench_bin, load_cpus, targets, mock_url, concurrencies, stream, n_rounds, seconds, scratch):
    tallies = {(t.name, c): Tally() for t in targets for c in concurrencies}
    for c in concurrencies:
        for r in range(n_rounds):
            # Direct first in every round, then the gateways in a rotating
            # order.
            gateways = targets[1:]
            shift = r % len(gateways)
            order = [targets[0]] + gateways[shift:] + gateways[:shift]
            for t in order:
                log(f"{'stream' if stream else 'whole'} c={c} round {r + 1}/{n_rounds}: {t.name}")
                run = load(
                    bench_bin,
                    load_cpus,
                    t,
                    mock_url,
                    c,
                    seconds,
                    0.5,
                    stream,
                    scratch / "samples.txt",
                )
                tallies[(t.name, c)].add(run)
    return tallies


def run_ns(pids):
    """Time on CPU of every thread of the processes, in ns, from
    /proc/<pid>/task/<tid>/schedstat: finer than the 10 ms ticks of
    /proc/<pid>/stat, which an idle process may not reach in a minute."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def idle(servers, seconds):
    """CPU each server used over `seconds` with no requests, in ms per s."""
    before = {s.name: run_ns(s.pids()) for s in servers}
    time.sleep(seconds)
    return {s.name: (run_ns(s.pids()) - before[s.name]) / 1e6 / seconds for s in servers}


def async_path(llmhost_bin, bench_bin, store, runs, scratch, pin, server_cpus, load_cpus):
    tasks = env_int("ASYNC_TASKS", 20000)
    concurrency = env_int("ASYNC_CONCURRENCY", 64)
    workers = env_int("ASYNC_WORKERS", 16)
    results = []
    for run in range(runs):
        data = scratch / f"async-{store}-{run}"
        data.mkdir()
        args = [
            str(llmhost_bin),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data),
            "--workers",
            str(workers),
        ]
        database = None
        if store == "postgres":
            database = create_postgres_database()
            if database is None:
                return None
            args += ["--database-url", database[1]]
        server = Server(f"async-{store}", args, server_cpus if pin else None, env={"RUST_LOG": "warn"})
        try:
            base = server.wait_for_line(r"llmhost listening on (http://\S+)")[1]
            time.sleep(1)
            loadavg = Path("/proc/loadavg").read_text().split()[:3]
            argv = (["taskset", "-c", load_cpus] if pin else []) + [
                str(bench_bin),
                "tasks",
                "--base",
                base,
                "--tasks",
                str(tasks),
                "--concurrency",
                str(concurrency),
            ]
            for pid in server.pids():
                argv += ["--pid", str(pid)]
            log(f"async path on {store}, run {run + 1}/{runs} ...")
            out = subprocess.run(argv, capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"async path on {store}: {out.stderr}")
            result = json.loads(out.stdout)
            result["load_before"] = " ".join(loadavg)
            result["load_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            result["workers"] = workers
            result["concurrency"] = concurrency
            results.append(result)
        finally:
            server.stop()
            if database:
                drop_postgres_database(database[0])
    return results


def postgres_admin_url():
    return os.environ.get("LLMHOST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def create_postgres_database():
    name = "bench_peers_" + secrets.token_hex(4)
    admin = postgres_admin_url()
    ok = subprocess.run(
        ["psql", admin, "-qc", f"CREATE DATABASE {name}"], capture_output=True, text=True
    )
    if ok.returncode != 0:
        log("PostgreSQL skipped:", ok.stderr.strip())
        return None
    return name, admin.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(name):
    subprocess.run(
        ["psql", postgres_admin_url(), "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
        capture_output=True,
    )


# ---------------------------------------------------------------- report


def us(value):
    return "–" if value is None else f"{value:,.0f}"


def added(value, base):
    if value is None or base is None:
        return "–"
    return f"{value - base:+,.0f}"


def ratio(value, base):
    if not value or not base:
        return "–"
    return f"{value / base:,.1f}×"


def report(info, targets, whole, streams, idle_cpu, rss_idle, rss_after, async_results, settings):
    lines = []
    w = lines.append
    w(f"Run of {info['date']} by `just bench-peers` (scripts/bench-peers), llmhost at {info['commit']}.")
    w("")
    w(f"- Machine: {info['cpu']}; {info['memory']} memory; Linux {info['kernel']}; {info['rustc']}.")
    w(f"- Load: before `{info['uptime_before']}`; after `{info['uptime_after']}`.")
    if info.get("note"):
        w(f"- {info['note']}")
    w(
        f"- Pinning: every server on CPU {settings['server_cpus']}, the load generator and the mock on "
        f"CPU {settings['load_cpus']} (`taskset`). Rounds of {settings['seconds']} s (after 0.5 s of "
        f"warm-up on the same connections), {settings['rounds']} per concurrency, alternating: the mock "
        "directly, then each gateway in an order that rotates every round."
    )
    w(
        f"- Versions: TensorZero {info['versions'].get('tensorzero', '–')} (PyPI `tensorzero`), "
        f"LiteLLM {info['versions'].get('litellm', '–')} (PyPI `litellm[proxy]`, uvicorn, one worker, a master key, "
        "no database)."
    )
    w(
        "- Server CPU is the user + system time of the gateway's processes (all threads) over the measured "
        "window, from `/proc/<pid>/stat`. TensorZero's gateway runs embedded in the Python process its "
        "package starts (`_start_http_gateway`, the server behind its `patch_openai_client`); that "
        "process's Python thread sleeps in `signal.pause()`, so the process's CPU is the gateway's. "
        "LiteLLM is counted with every process it starts."
    )
    w(
        "- The mock (`llmhost-bench mock`) answers a fixed completion, or a stream of "
        f"{CHUNKS} content chunks {CHUNK_GAP_US} µs apart; upstream connections are counted where it "
        "accepts them."
    )
    w("")

    if whole:
        names = [t.name for t in targets]
        label = {t.name: t.label for t in targets}
        concurrencies = sorted({c for (_, c) in whole})
        gateways = [n for n in names if n != "direct"]

        w("**Whole answers** (`POST /v1/chat/completions`, closed loop, keep-alive):")
        w("")
        w("| concurrency | path | req/s | p50 (µs) | p99 (µs) | added p50 (µs) | added p99 (µs) | server CPU per request (µs) | upstream connections per request | load generator CPU per request (µs) | errors |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for c in concurrencies:
            base = whole[("direct", c)]
            b50, b99 = pct(base.latencies(), 0.5), pct(base.latencies(), 0.99)
            for n in names:
                t = whole[(n, c)]
                lat = t.latencies()
                p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
                errors, first = t.errors()
                cpu = t.per_request("server_cpu_us")
                conns = t.per_request("upstream_connections")
                w(
                    f"| {c} | {label[n]} | {t.rate():,.0f} | {us(p50)} | {us(p99)} | "
                    f"{'' if n == 'direct' else added(p50, b50)} | {'' if n == 'direct' else added(p99, b99)} | "
                    f"{us(cpu) if n != 'direct' else us(cpu) + ' (the mock)'} | "
                    f"{'' if n in ('direct', 'llmhost-echo') else (f'{conns:.3f}' if conns is not None else '–')} | "
                    f"{us(t.per_request('load_generator_cpu_us'))} | "
                    f"{errors}{' (' + first[:80] + ')' if first else ''} |"
                )
        w("")

        if streams:
            w(f"**Streamed answers** ({CHUNKS} chunks {CHUNK_GAP_US} µs apart from the mock):")
            w("")
            w("| concurrency | path | streams/s | time to first token p50 (µs) | p99 (µs) | added p50 (µs) | server CPU per chunk (µs) | server CPU per stream (µs) | errors |")
            w("|---|---|---|---|---|---|---|---|---|")
            for c in sorted({c for (_, c) in streams}):
                base = pct(streams[("direct", c)].ttfts(), 0.5)
                for n in names:
                    if n == "llmhost-echo":
                        continue
                    t = streams[(n, c)]
                    ttft = t.ttfts()
                    per_stream = t.per_request("server_cpu_us")
                    errors, first = t.errors()
                    w(
                        f"| {c} | {label[n]} | {t.rate():,.0f} | {us(pct(ttft, 0.5))} | {us(pct(ttft, 0.99))} | "
                        f"{'' if n == 'direct' else added(pct(ttft, 0.5), base)} | "
                        f"{us(per_stream / CHUNKS) if per_stream is not None else '–'} | {us(per_stream)} | "
                        f"{errors}{' (' + first[:80] + ')' if first else ''} |"
                    )
            w("")

        w(f"**Idle and memory** (idle CPU over {settings['idle_seconds']} s after a warm-up, every server up at once):")
        w("")
        w("| server | idle CPU (ms per s) | RSS idle (MiB) | RSS after the load (MiB) |")
        w("|---|---|---|---|")
        servers = []
        for t in targets:
            if t.server.name not in servers and t.server.name != "mock":
                servers.append(t.server.name)
        for s in servers:
            w(f"| {s} | {idle_cpu[s]:.3f} | {rss_idle[s]:.1f} | {rss_after[s]:.1f} |")
        w("")

        peers = [n for n in gateways if n not in ("llmhost", "llmhost-echo", "llmhost-before")]
        if "llmhost" in names and peers:
            w("**Peers against llmhost** (`openai` plugin), whole answers: how many times llmhost's server CPU per request and added p50 latency each peer needs:")
            w("")
            w("| concurrency | " + " | ".join(f"{n} CPU per request" for n in peers) + " | " + " | ".join(f"{n} added p50" for n in peers) + " |")
            w("|---" * (1 + 2 * len(peers)) + "|")
            for c in concurrencies:
                b50 = pct(whole[("direct", c)].latencies(), 0.5) or 0
                ours = whole[("llmhost", c)]
                our_cpu = ours.per_request("server_cpu_us")
                our_add = (pct(ours.latencies(), 0.5) or 0) - b50
                cells = [ratio(whole[(n, c)].per_request("server_cpu_us"), our_cpu) for n in peers]
                for n in peers:
                    their_p50 = pct(whole[(n, c)].latencies(), 0.5)
                    their_add = None if their_p50 is None else their_p50 - b50
                    cells.append(ratio(their_add, our_add) if our_add > 0 else "–")
                w(f"| {c} | " + " | ".join(cells) + " |")
            w("")
            w("Above 1× the peer costs more than llmhost; below 1×, less.")
            w("")

    if async_results:
        w(
            "**Async path** (llmhost alone: `llmhost-bench tasks` submits `echo` tasks over HTTP from "
            "keep-alive clients, then waits until none is pending or running; "
            + ("server and load generator pinned as above" if settings["async_pin"] else "server and load generator unpinned, sharing both cores")
            + "):"
        )
        w("")
        w("| store | run | tasks | clients | workers | tasks/s (end to end) | submitted/s | submit p50 (ms) | submit p99 (ms) | server CPU per task (µs) | load generator CPU per task (µs) | load average before → after |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for store, results in async_results.items():
            if results is None:
                w(f"| {store} | skipped: no server | | | | | | | | | | |")
                continue
            for i, r in enumerate(results):
                w(
                    f"| {store} | {i + 1} | {r['tasks']:,} | {r['concurrency']} | {r['workers']} | {r['tasks_per_second']:,.0f} | "
                    f"{r['submitted_per_second']:,.0f} | {r['submit_p50_us'] / 1000:.2f} | {r['submit_p99_us'] / 1000:.2f} | "
                    f"{r['server_cpu_us'] / r['tasks']:,.0f} | {r['load_generator_cpu_us'] / r['tasks']:,.0f} | "
                    f"{r['load_before']} → {r['load_after']} |"
                )
        w("")
    return "\n".join(lines)


def write_docs(markdown):
    text = DOCS.read_text()
    if BEGIN not in text or END not in text:
        raise RuntimeError(f"{DOCS} has no {BEGIN} … {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{markdown}\n{END}{tail}")


# ---------------------------------------------------------------- main


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    sections = env_list("SECTIONS", "peers,async")
    peers = env_list("PEERS", "tensorzero,litellm")
    settings = {
        "server_cpus": os.environ.get("SERVER_CPUS", "1"),
        "load_cpus": os.environ.get("LOAD_CPUS", "0"),
        "rounds": env_int("ROUNDS", 3),
        "seconds": env_float("SECONDS", 2),
        "idle_seconds": env_float("IDLE_SECONDS", 60),
        "async_pin": os.environ.get("ASYNC_PIN", "0") == "1",
    }
    llmhost_bin, bench_bin = build()
    venv_path = venv() if "peers" in sections and peers else None
    info = machine()
    info["date"] = datetime.date.today().isoformat()
    info["note"] = os.environ.get("LOAD_NOTE", "")
    info["versions"] = (
        {p: installed_version(venv_path, p) for p in ("tensorzero", "litellm")} if venv_path else {}
    )
    info["uptime_before"] = uptime()
    log(info["uptime_before"])

    whole = streams = None
    idle_cpu = rss_idle = rss_after = {}
    targets = []
    async_results = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as scratch_dir:
        scratch = Path(scratch_dir)
        if "peers" in sections:
            mock, mock_url, servers, targets = start_targets(
                llmhost_bin,
                bench_bin,
                venv_path,
                peers,
                settings["server_cpus"],
                settings["load_cpus"],
                scratch,
            )
            try:
                gateways = [s for s in servers if s.name != "mock"]
                log("warming up ...")
                for t in targets:
                    for stream in (False, True):
                        if stream and t.name == "llmhost-echo":
                            continue
                        load(bench_bin, settings["load_cpus"], t, mock_url, 2, 0.5, 0.5, stream, scratch / "samples.txt")
                rss_idle = {s.name: rss_mib(s.pids()) for s in gateways}
                log(f"idle for {settings['idle_seconds']} s ...")
                idle_cpu = idle(gateways, settings["idle_seconds"])
                whole = rounds(
                    bench_bin,
                    settings["load_cpus"],
                    targets,
                    mock_url,
                    [int(c) for c in env_list("CONCURRENCY", "1,8,64")],
                    False,
                    settings["rounds"],
                    settings["seconds"],
                    scratch,
                )
                stream_targets = [t for t in targets if t.name != "llmhost-echo"]
                streams = rounds(
                    bench_bin,
                    settings["load_cpus"],
                    stream_targets,
                    mock_url,
                    [int(c) for c in env_list("STREAM_CONCURRENCY", "1,8")],
                    True,
                    settings["rounds"],
                    settings["seconds"],
                    scratch,
                )
                rss_after = {s.name: rss_mib(s.pids()) for s in gateways}
            finally:
                for s in reversed(servers):
                    s.stop()
        if "async" in sections:
            for store in env_list("ASYNC_STORES", "sqlite,postgres"):
                async_results[store] = async_path(
                    llmhost_bin,
                    bench_bin,
                    store,
                    env_int("ASYNC_RUNS", 3),
                    scratch,
                    settings["async_pin"],
                    settings["server_cpus"],
                    settings["load_cpus"],
                )
    info["uptime_after"] = uptime()
    log(info["uptime_after"])
    markdown = report(
        info, targets, whole, streams, idle_cpu, rss_idle, rss_after, async_results, settings
    )
    (WORK / "results.md").write_text(markdown + "\n")
    print(markdown)
    if os.environ.get("WRITE_DOCS", "1") == "1":
        write_docs(markdown)
        log(f"wrote {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
