"""Burst benchmark for the Slack bot's HTTP endpoint.

Fires a burst of concurrent, properly signed ``app_mention`` events (plus Slack-style retries of
some of them) at ``/slack/events`` served by uvicorn on loopback, with the bot in production mode
(``process_before_response=False``: ack first, work on the pool). A scripted model answers; every
Slack Web API call goes to the local fake. Prints ack latency p50/p99/max and whether every
conversation finished with exactly one answer. The requests come from a separate process (a
bare HTTP/1.1 client, one connection per request, connection time included), as Slack's do: a
load generator inside the server's interpreter would charge its own CPU to the acks.

    .venv/bin/python benchmarks/slack_burst_bench.py                 # real runtime, scripted model
    .venv/bin/python benchmarks/slack_burst_bench.py --runtime fake  # keyword-scripted runtime
    .venv/bin/python benchmarks/slack_burst_bench.py --events 200 --think 0.5

Exit status 1 if p99 ≥ 3 s, any request failed, or any conversation did not finish. The same
run also acks ``--sequential`` events one at a time on the idle server: the baseline for the
burst's p99. ``--quick``: a 12-event smoke run; ``--json``: rows for ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from _rows import Row, emit

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
CHANNEL = "C0BENCH"
ASKERS = ["U0ALICE", "U0BOB", "U0DEVON", "U0PRIYA", "U0ERIN", "U0MALLORY", "U0TOM", "U0DANA"]


@contextlib.contextmanager
def serve(asgi_app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1:free-port in a background thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi_app, log_level="warning", lifespan="off", backlog=2048))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=10)


def build_runtime(kind: str, data_dir: Path, notifier: Any, events: int, think: float) -> tuple[Any, Any]:
    """(runtime, closer). "real": LangGraph runtime + ScriptedChatModel; "fake": ScriptedRuntime."""
    if kind == "fake":
        from agent.fakes.slack_runtime import ScriptedRuntime

        return ScriptedRuntime(notifier=notifier, think_time=think), (lambda: None)

    from langchain_core.messages import AIMessage, BaseMessage

    from agent.models.scripted import ScriptedChatModel, text_turn
    from agent.runtime.chamberlain import build_runtime as build
    from agent.settings import Settings
    from tools.base import ToolRegistry

    def answer(messages: list[BaseMessage]) -> AIMessage:
        if think:
            time.sleep(think)  # model latency
        return text_turn("Q3 revenue was **$1.2M**.")

    model = ScriptedChatModel.from_turns([answer] * (events * 2))
    runtime = build(Settings(data_dir=data_dir), registry=ToolRegistry([]), chat_model=model, notifier=notifier)
    return runtime, runtime.close


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class LoadGenerator:
    """Sends requests from a separate process, as Slack does: a load generator sharing the
    server's interpreter would charge its own CPU (and GIL waits) to the server's acks."""

    def __init__(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self._pool.submit(_noop).result()  # the child's start-up is not part of any measure

    def send(self, url: str, requests: list[Any]) -> tuple[list[tuple[int, float]], float]:
        """Fire ``requests`` at once; ((status, seconds) each, seconds for all)."""
        raw = [(r.body, dict(r.headers)) for r in requests]
        return self._pool.submit(_fire_raw, url, raw).result()

    def close(self) -> None:
        self._pool.shutdown()


def _noop() -> None:
    return None


def _fire_raw(url: str, raw: list[tuple[str, dict[str, str]]]) -> tuple[list[tuple[int, float]], float]:
    from types import SimpleNamespace

    requests = [SimpleNamespace(body=body, headers=headers) for body, headers in raw]
    t0 = time.perf_counter()
    results = asyncio.run(fire(url, requests, concurrency=len(requests)))
    return results, time.perf_counter() - t0


async def fire(url: str, requests: list[Any], concurrency: int) -> list[tuple[int, float]]:
    """POST every request at once, each on its own connection, as Slack's servers do; returns
    (status, seconds until the response). A bare HTTP/1.1 client: the load generator's own CPU
    is kept out of the latency as far as possible (httpx costs about a millisecond a request)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    start_gate = asyncio.Event()
    sem = asyncio.Semaphore(concurrency)

    async def one(req: Any) -> tuple[int, float]:
        async with sem:
            body = req.body if isinstance(req.body, bytes) else req.body.encode()
            head = "".join(f"{k}: {v}\r\n" for k, v in req.headers.items() if k.lower() != "content-length")
            wire = (
                f"POST /slack/events HTTP/1.1\r\nHost: {host}\r\n{head}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body
            await start_gate.wait()
            t0 = time.perf_counter()  # the connection is part of the wait, as for Slack
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(wire)
            await writer.drain()
            status_line = await reader.readline()
            elapsed = time.perf_counter() - t0
            await reader.read()  # the rest, until the server closes
            writer.close()
            return int(status_line.split()[1]), elapsed

    tasks = [asyncio.create_task(one(r)) for r in requests]
    await asyncio.sleep(0.05)
    start_gate.set()
    return list(await asyncio.gather(*tasks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=60, help="distinct conversations in the burst (≥ 50)")
    parser.add_argument("--retries", type=float, default=0.2, help="share of events Slack also retries")
    parser.add_argument("--think", type=float, default=0.3, help="scripted model latency per call, seconds")
    parser.add_argument("--threads", type=int, default=16, help="bot worker threads")
    parser.add_argument("--runtime", choices=["real", "fake"], default="real")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for all conversations")
    parser.add_argument("--sequential", type=int, default=20, help="events acked one at a time (baseline)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 events, short think time")
    parser.add_argument("--json", action="store_true", help="print the rows for make bench on stdout")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.think, args.sequential = 12, 0.05, 5
    out = sys.stderr if args.json else sys.stdout

    from agent.fakes.slack_runtime import event_request, mention_event
    from agent.interfaces.slack.app import create_slack_bot
    from agent.interfaces.slack.fastapi_app import create_fastapi_app
    from agent.interfaces.slack.notifier import SlackNotifier
    from agent.interfaces.slack.users import SlackUsers
    from connectors.appdb import DedupeStore as Dedupe
    from connectors.appdb import make_engine
    from connectors.appdb.slack_cards import CardStore
    from connectors.slack.client import SlackWebApi, build_web_client
    from connectors.slack.fake_api import FakeSlack
    from policies.directory import Directory

    with tempfile.TemporaryDirectory() as tmp, FakeSlack(token=TOKEN) as fake:
        data_dir = Path(tmp)
        engine = make_engine(f"sqlite:///{data_dir / 'app.db'}")
        web = build_web_client(TOKEN, base_url=fake.base_url)
        api = SlackWebApi(web)
        fake.add_channel("C0SOLO", "solo")  # the one-at-a-time baseline's channel
        users = SlackUsers(api, Directory.load())
        notifier = SlackNotifier(api, users, CardStore(engine))
        runtime, close_runtime = build_runtime(args.runtime, data_dir, notifier, args.events, args.think)
        app, bot = create_slack_bot(
            runtime,
            client=web,
            signing_secret=SECRET,
            dedupe=Dedupe(engine),
            users=users,
            process_before_response=False,
            work_threads=args.threads,
        )
        try:
            with serve(create_fastapi_app(app)) as url:
                # Warm up: Bolt's auth.test and the user cache, as a long-running server has.
                warm = event_request(SECRET, mention_event("U0OLIVIA", "hello", ts="1.1"), event_id="EvWarm")
                httpx.post(f"{url}/slack/events", content=warm.body, headers=warm.headers, timeout=30)
                bot.drain(timeout=args.timeout)

                requests = []
                for i in range(args.events):
                    ts = f"{2000 + i}.000100"
                    ev = mention_event(ASKERS[i % len(ASKERS)], f"what was Q3 revenue? #{i}", channel=CHANNEL, ts=ts)
                    requests.append(event_request(SECRET, ev, event_id=f"EvBurst{i}"))
                    if i < args.events * args.retries:
                        requests.append(event_request(SECRET, ev, event_id=f"EvBurst{i}", retry_num=1))
                # Baseline: one event at a time on the idle server.
                load = LoadGenerator()
                single: list[float] = []
                for i in range(args.sequential):
                    ev = mention_event(ASKERS[i % len(ASKERS)], f"hello #{i}", channel="C0SOLO", ts=f"{9000 + i}.1")
                    req = event_request(SECRET, ev, event_id=f"EvSolo{i}")
                    single.append(load.send(url, [req])[0][0][1])
                    bot.drain(timeout=args.timeout)
                started = time.perf_counter()
                results, burst_s = load.send(url, requests)
                load.close()
                finished = bot.drain(timeout=args.timeout)
                work_s = time.perf_counter() - started
        finally:
            close_runtime()
            engine.dispose()

        latencies = [lat for _, lat in results]
        bad = [code for code, _ in results if code != 200]
        done = 0
        duplicated = 0
        for i in range(args.events):
            thread = fake.thread(CHANNEL, f"{2000 + i}.000100")
            answers = [m for m in thread if "Q3 revenue was" in m.text]
            status = [m for m in thread if m.history and "Working on it" in m.history[0]]
            if len(answers) == 1 and len(status) == 1 and status[0].history[-1].endswith("Done."):
                done += 1
            duplicated += max(0, len(answers) - 1)
        updates = len(fake.calls_to("chat.update"))

    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    solo50 = percentile(single, 50) if single else float("nan")

    def say(line: str) -> None:
        print(line, file=out)

    say(f"runtime={args.runtime} events={args.events} requests={len(requests)} (incl. retries) think={args.think}s")
    say(f"ack latency: p50={p50 * 1000:.1f} ms  p99={p99 * 1000:.1f} ms  max={max(latencies) * 1000:.1f} ms")
    say(f"mean={statistics.mean(latencies) * 1000:.1f} ms  burst sent+acked in {burst_s:.2f} s")
    say(f"one event at a time (idle server): p50={solo50 * 1000:.1f} ms over {len(single)} events")
    say(f"non-200 responses: {len(bad)}")
    say(f"conversations finished with exactly one answer: {done}/{args.events} (duplicate answers: {duplicated})")
    say(f"all work drained: {finished} in {work_s:.2f} s; chat.update calls: {updates}")
    ok = p99 < 3.0 and not bad and done == args.events and duplicated == 0 and finished
    say("RESULT: " + ("PASS" if ok else "FAIL"))
    if args.json:
        n = args.events
        emit(
            "slack_burst",
            [
                Row(
                    f"Slack ack p99, burst of {n} + retries",
                    "ms",
                    p99 * 1000,
                    solo50 * 1000,
                    "≤ 300 ms",
                    p99 <= 0.3,
                    "one event at a time, p50",
                ),
                Row(
                    f"Slack duplicate or missing runs, burst of {n}",
                    "runs",
                    float(duplicated + n - done),
                    None,
                    "0",
                    duplicated == 0 and done == n,
                    "",
                ),
            ],
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
