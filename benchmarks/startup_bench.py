"""Start-up time of everyday commands, beside a bare interpreter start measured in the same run.

    python benchmarks/startup_bench.py [--runs 3] [--data-dir DIR] [--quick]

Seeds a demo data dir (once) unless --data-dir is given, then times each command as a fresh
process (median of --runs), and ``serve`` until it answers ``/healthz``. Targets from issue #20:
commands that need no model ≤ 1 s warm; ``serve`` answers /healthz ≤ 3 s. The "heavy" column says
whether the process imported the model stack (langchain/langgraph) or torch.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "agent.cli"]
TRACE = [sys.executable, "-X", "importtime", "-m", "agent.cli"]  # one extra run: what got imported
HEAVY = ("langchain_core", "langgraph", "torch", "sentence_transformers")

COMMANDS: list[tuple[str, list[str], float]] = [
    ("--help", ["--help"], 1.0),
    ("approvals list", ["approvals", "list"], 1.0),
    ("approvals show PREFIX", ["approvals", "show", "apr_"], 1.0),
    ("approvals approve (unknown id)", ["approvals", "approve", "apr_0000", "--user", "u_raj"], 1.0),
    ("audit verify", ["audit", "verify"], 1.0),
    ("audit show", ["audit", "show", "--limit", "20"], 1.0),
    ("sql check", ["sql", "check", "--dialect", "sqlite"], 1.0),
    ("requests template", ["requests", "template", "expense"], 1.0),
    ("docs search (loads embeddings)", ["docs", "search", "receipt threshold", "--user", "u_erin"], 5.0),
]


def _time(args: list[str], env: dict[str, str], stdin: str = "SELECT 1\n") -> tuple[float, bool, int]:
    start = time.perf_counter()
    res = subprocess.run(args, env=env, input=stdin, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("import time")]
    imported = {ln.split("|")[-1].strip().split(".")[0] for ln in lines}
    heavy = bool(imported & set(HEAVY))
    return elapsed, heavy, res.returncode


def _serve_until_healthy(env: dict[str, str]) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "serve", "--port", str(port)],
        env={**env, "CHAMBERLAIN_HTTP_TOKEN": "bench-token"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        while time.perf_counter() - start < 120:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                time.sleep(0.05)
        return float("inf")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="one run each, no serve")
    opts = ap.parse_args()
    runs = 1 if opts.quick else opts.runs
    data = opts.data_dir or Path(tempfile.mkdtemp(prefix="startup-bench-")) / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAMBERLAIN_", "ANTHROPIC_"))}
    env["CHAMBERLAIN_DATA_DIR"] = str(data)
    if not data.exists():
        print(f"seeding {data} (once)…", flush=True)
        subprocess.run([sys.executable, "-m", "agent.cli", "seed"], env=env, check=True, cwd=ROOT)

    bare = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t0)
    base = statistics.median(bare)
    print(f"\nbaseline: bare `python -c pass` {base:.2f} s (load average {os.getloadavg()[0]:.1f})\n")
    print(f"| command | median s ({runs} runs) | × bare python | target s | heavy imports | ok |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, args, target in COMMANDS:
        samples, heavy_any = [], False
        for _ in range(runs):
            elapsed, _heavy, _code = _time([*CLI, *args], env)
            samples.append(elapsed)
        _t, heavy_any, _code = _time([*TRACE, *args], env)  # -X importtime slows a run: not timed
        med = statistics.median(samples)
        ok = "yes" if med <= target else "NO"
        print(f"| {label} | {med:.2f} | {med / base:.1f} | {target:.0f} | {'yes' if heavy_any else 'no'} | {ok} |")
    if not opts.quick:
        served = statistics.median(_serve_until_healthy(env) for _ in range(runs))
        print(f"| serve → /healthz | {served:.2f} | {served / base:.1f} | 3 | — | {'yes' if served <= 3 else 'NO'} |")


if __name__ == "__main__":
    main()
