"""`chamberlain serve` listens before the runtime is built: probes answer at once, early requests
wait for the runtime instead of being refused, and a runtime that cannot start stops the server
with a one-line error."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from agent.interfaces.cli.serve import WarmingApp

ROOT = Path(__file__).resolve().parents[2]


def _real_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/v1/thing")
    def thing() -> dict[str, int]:
        return {"answer": 42}

    return app


def test_probes_answer_while_building_and_early_requests_wait_for_the_runtime() -> None:
    release = threading.Event()

    def build() -> FastAPI:
        assert release.wait(30)
        return _real_app()

    warming = WarmingApp(build, wait_s=30)
    warming.start()

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=warming)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            health = await client.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "starting"})
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.headers["retry-after"] == "2"
            early = asyncio.create_task(client.get("/v1/thing"))
            await asyncio.sleep(0.2)
            assert not early.done()  # waiting, not refused
            release.set()
            answer = await asyncio.wait_for(early, 10)
            assert (answer.status_code, answer.json()) == (200, {"answer": 42})
            assert (await client.get("/healthz")).json() == {"status": "ok"}  # the real app's now
            assert (await client.get("/readyz")).status_code == 200

    asyncio.run(scenario())
    assert warming.ready and warming.error is None


def test_a_failed_build_stops_the_server_and_answers_503_meanwhile() -> None:
    stopped = threading.Event()

    def build() -> FastAPI:
        raise RuntimeError("bad policy file")

    warming = WarmingApp(build, wait_s=5)
    warming.on_failure = stopped.set
    warming.start()
    warming.join(5)
    assert stopped.is_set() and isinstance(warming.error, RuntimeError)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=warming)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            res = await client.get("/v1/thing")
            assert res.status_code == 503 and res.json() == {"detail": "the server failed to start"}

    asyncio.run(scenario())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_a_broken_policy_file_exits_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bad = tmp_path / "access.yaml"
    bad.write_text("roles: [unclosed\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAMBERLAIN_", "ANTHROPIC_"))}
    env.update(
        CHAMBERLAIN_DATA_DIR=str(data),
        CHAMBERLAIN_HTTP_TOKEN="t",
        CHAMBERLAIN_ACCESS_POLICY_PATH=str(bad),
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "serve", "--port", str(_free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    message = proc.stderr.split("error:", 1)[1].replace("\n", "")  # the console wraps long paths
    assert len(errors) == 1 and "access.yaml" in message, proc.stderr[-3000:]
    assert time.monotonic() - started < 120


def test_warming_app_completes_lifespan() -> None:
    # uvicorn sends lifespan events to the front app; it must complete them, not hang or fail.
    warming = WarmingApp(_real_app)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, str]] = []

    async def receive() -> dict[str, str]:
        return messages.pop(0)

    async def send(message: dict[str, str]) -> None:
        sent.append(message)

    asyncio.run(warming({"type": "lifespan"}, receive, send))  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_slack_serve_with_the_slack_api_unreachable_exits_with_one_line(tmp_path: Path) -> None:
    # The bot checks its token with the Slack Web API before it listens; a proxy on a closed
    # port makes that API unreachable the same way on every machine.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHAMBERLAIN_", "SLACK_", "ANTHROPIC_")) and "proxy" not in k.lower()
    }
    env.update(
        CHAMBERLAIN_DATA_DIR=str(tmp_path),
        SLACK_BOT_TOKEN="xoxb-not-checked",
        SLACK_SIGNING_SECRET="secret",
        HTTPS_PROXY=f"http://127.0.0.1:{_free_port()}",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "slack", "serve", "--port", str(_free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    stderr = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert 1 <= len(stderr) <= 3 and stderr[0].startswith("error: cannot reach the Slack API"), proc.stderr
    assert "CHAMBERLAIN_SLACK_API_URL" in proc.stderr
