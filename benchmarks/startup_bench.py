"""Start-up time of everyday commands, beside a bare interpreter start measured in the same run.

    python benchmarks/startup_bench.py [--runs 3] [--data-dir DIR] [--quick] [--json]

Seeds a demo data dir (once) unless --data-dir is given, then times each command as a fresh
process (median of --runs), ``approvals approve`` on a real pending request (the write runs), and
``serve`` until it answers ``/healthz`` and until its API answers. Targets from issue #20: commands
that need no model ≤ 1 s warm; ``serve`` answers /healthz ≤ 3 s. The "heavy" column says whether
the process imported the model stack (anthropic/openai SDKs, langchain) or torch.

``--quick`` (the CI smoke): one run each on an empty data dir, no seeding, no approve, serve until
/healthz only. ``--json``: the table goes to stderr and the rows for ``make bench`` to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _rows import Row, emit

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "agent"]
TRACE = [sys.executable, "-X", "importtime", "-m", "agent"]  # one extra run: what got imported
HEAVY = ("anthropic", "openai", "langchain_core", "langchain_anthropic", "langgraph", "torch", "sentence_transformers")

# What any approvals/audit command imports whatever our code does (the app DB, settings, the CLI
# and its tables, the policy files' YAML): its time is the floor under those rows.
FLOOR = "import sqlalchemy, sqlalchemy.dialects.sqlite, pydantic_settings, typer, typer._adapters, rich.table, yaml"

# label, arguments, target seconds, needs seeded data
COMMANDS: list[tuple[str, list[str], float, bool]] = [
    ("--help", ["--help"], 1.0, False),
    ("approvals list", ["approvals", "list"], 1.0, False),
    ("approvals show PREFIX", ["approvals", "show", "apr_"], 1.0, True),
    ("approvals approve (unknown id)", ["approvals", "approve", "apr_0000", "--user", "u_raj"], 1.0, False),
    ("audit verify", ["audit", "verify"], 1.0, False),
    ("audit show", ["audit", "show", "--limit", "20"], 1.0, False),
    ("sql check", ["sql", "check", "--dialect", "sqlite"], 1.0, False),
    ("requests template", ["requests", "template", "expense"], 1.0, False),
    ("docs search (loads the embedding model)", ["docs", "search", "receipt threshold", "--user", "u_erin"], 5.0, True),
]

# Above the auto-approval limit, within the manager's: Raj approves Alice's expense.
EXPENSE = {
    "kind": "expense",
    "amount": 640.0,
    "currency": "USD",
    "category": "travel",
    "date": "2026-11-20",
    "description": "Train tickets for the Acme renewal meeting",
    "has_receipt": True,
    "merchant": "Amtrak",
}


def _time(args: list[str], env: dict[str, str], stdin: str = "SELECT 1\n") -> tuple[float, bool, int]:
    start = time.perf_counter()
    res = subprocess.run(args, env=env, input=stdin, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("import time")]
    imported = {ln.split("|")[-1].strip().split(".")[0] for ln in lines}
    heavy = bool(imported & set(HEAVY))
    return elapsed, heavy, res.returncode


def _pending_expense(env: dict[str, str], workdir: Path) -> str:
    """A new request waiting for u_raj (not timed)."""
    path = workdir / "expense.json"
    path.write_text(json.dumps(EXPENSE), encoding="utf-8")
    res = subprocess.run(
        [*CLI, "approvals", "submit", str(path), "--user", "u_alice", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    doc = json.loads(res.stdout)
    if doc["status"] != "pending":
        raise SystemExit(f"the benchmark's expense was not routed to an approver: {doc['status']}")
    return str(doc["id"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(env: dict[str, str], *, until_ready: bool) -> tuple[float, float | None]:
    """Seconds until /healthz answers and (when asked) until an API call answers."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env={**env, "CHAMBERLAIN_HTTP_TOKEN": "bench-token"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )

    def wait(probe: Callable[[], bool]) -> float:
        while time.perf_counter() - start < 180 and proc.poll() is None:
            try:
                if probe():
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        return float("inf")

    try:
        healthy = wait(lambda: httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200)
        ready = None
        if until_ready:
            auth = {"Authorization": "Bearer bench-token", "X-Chamberlain-User": "u_raj"}
            # An API call made early waits for the runtime: this is when a client gets an answer.
            ready = wait(lambda: httpx.get(f"{url}/v1/approvals", headers=auth, timeout=120).status_code == 200)
        return healthy, ready
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=120)  # it closes the runtime it is still building first
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="smoke: one run each, empty data dir, serve to /healthz")
    ap.add_argument("--json", action="store_true", help="rows for make bench on stdout (the table on stderr)")
    opts = ap.parse_args()
    out = sys.stderr if opts.json else sys.stdout
    runs = 1 if opts.quick else opts.runs
    workdir = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    data = opts.data_dir or workdir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAMBERLAIN_", "ANTHROPIC_"))}
    env["CHAMBERLAIN_DATA_DIR"] = str(data)
    seeded = opts.data_dir is not None
    if opts.quick and not data.exists():
        data.mkdir(parents=True)  # an empty data dir is a valid one: commands start, find nothing
    elif not data.exists():
        print(f"seeding {data} (once)…", file=sys.stderr, flush=True)
        subprocess.run([*CLI, "seed"], env=env, check=True, cwd=ROOT, stdout=sys.stderr)
        seeded = True

    bare = []
    for _ in range(max(runs, 3)):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t0)
    base = statistics.median(bare)
    floor = []
    for _ in range(max(runs, 3)):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", FLOOR], check=True)
        floor.append(time.perf_counter() - t0)
    lib = statistics.median(floor)
    print(f"\nbaseline: bare `python -c pass` {base:.2f} s (load average {os.getloadavg()[0]:.1f})", file=out)
    print(f"floor: importing only the libraries an approvals command needs takes {lib:.2f} s\n", file=out)
    print(f"| command | median s ({runs} runs) | × bare python | target s | heavy imports | ok |", file=out)
    print("| --- | --- | --- | --- | --- | --- |", file=out)
    rows: list[Row] = []

    def report(label: str, med: float, target: float, heavy: str) -> None:
        ok = med <= target
        print(f"| {label} | {med:.2f} | {med / base:.1f} | {target:g} | {heavy} | {'yes' if ok else 'NO'} |", file=out)
        rows.append(Row(f"start-up: {label}", "s", med, base, f"≤ {target:g} s", ok, "bare python -c pass"))

    commands = [(label, args, target) for label, args, target, needs_seed in COMMANDS if seeded or not needs_seed]
    if seeded and not opts.quick:
        approve = ["approvals", "approve", "{id}", "--user", "u_raj"]
        commands.append(("approvals approve (the write runs)", approve, 1.0))
    for label, args, target in commands:
        samples = []
        for _ in range(runs):
            argv = [_pending_expense(env, workdir) if a == "{id}" else a for a in args]
            elapsed, _heavy, _code = _time([*CLI, *argv], env)
            samples.append(elapsed)
        argv = [_pending_expense(env, workdir) if a == "{id}" else a for a in args]
        _t, heavy, _code = _time([*TRACE, *argv], env)  # -X importtime slows a run: not timed
        report(label, statistics.median(samples), target, "yes" if heavy else "no")

    print(f"| (floor: the libraries alone) | {lib:.2f} | {lib / base:.1f} | — | — | — |", file=out)
    rows.append(Row("start-up: floor (libraries alone)", "s", lib, base, "informational", None, "bare python"))

    served = [_serve(env, until_ready=not opts.quick) for _ in range(runs)]
    report("serve → /healthz", statistics.median(h for h, _ in served), 3.0, "—")
    if not opts.quick:
        ready = statistics.median(r for _, r in served if r is not None)
        print(f"| serve → first API answer | {ready:.2f} | {ready / base:.1f} | — | — | — |", file=out)
        rows.append(Row("start-up: serve → first API answer", "s", ready, base, "informational", None, "bare python"))
    if opts.json:
        emit("startup", rows)


if __name__ == "__main__":
    main()
