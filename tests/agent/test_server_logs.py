"""Every server we ship logs clean lines: no "Logging error" tracebacks, no PII, no secrets.

Each server runs as a real process (``python -m agent ...``), with uvicorn's own logging
set-up and root logging at DEBUG. The test sends PII and secrets through every endpoint the
server has — in the path, the query string (percent-encoded), headers and JSON bodies, with and
without credentials, plus malformed and oversized bodies — then scans everything the process
printed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from connectors.slack.fake_api import FakeSlack

pytestmark = pytest.mark.xdist_group("server_logs")

ROOT = Path(__file__).resolve().parents[2]

# Values that must never appear in a log, in any spelling.
PII = {
    "email": "carla.mendes@example.org",
    "phone": "+1 415 555 0199",
    "card": "4111 1111 1111 1111",
    "ssn": "123-45-6789",
    "iban": "DE89370400440532013000",
    "api_key": "sk-ant-api03-SECRETSECRETSECRET1234",
}
TOKEN = "http-service-token-0123456789"
SIGNING_SECRET = "slack-signing-secret-abcdef"


def _forms(value: str) -> set[str]:
    """The spellings a value can take in a log line."""
    return {value, quote(value), quote(value, safe=""), quote(value).replace("%20", "+"), json.dumps(value)[1:-1]}


FORBIDDEN = {form for v in PII.values() for form in _forms(v)} | {TOKEN, SIGNING_SECRET}
PII_TEXT = " ".join(f"{k}: {v}" for k, v in PII.items())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serverlogs")


class Server:
    def __init__(self, args: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", *args],
            cwd=ROOT,
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                res = httpx.get(self.url + "/healthz", timeout=1)
                # `serve` answers {"status": "starting"} while its runtime loads: wait for "ok".
                if res.status_code == 200 and res.json().get("status") != "starting":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"server did not answer /healthz within {timeout} s:\n{self.output()}")

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._fh.close()
        return self.output()

    def output(self) -> str:
        if not self._fh.closed:
            self._fh.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAMBERLAIN_", "SLACK_", "ANTHROPIC_"))}
    env.update(
        CHAMBERLAIN_DATA_DIR=str(data_dir),
        CHAMBERLAIN_LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@pytest.fixture
def run_server(tmp_path: Path) -> Iterator[object]:
    started: list[Server] = []

    def start(args: list[str], env: dict[str, str]) -> Server:
        port = _free_port()
        s = Server([*args, "--port", str(port)], env, port, tmp_path / f"server{len(started)}.log")
        started.append(s)
        s.wait_healthy()
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.stop()


def _probe_openapi(client: httpx.Client, auth: dict[str, str]) -> int:
    """Call every operation the server's OpenAPI document lists, with PII everywhere."""
    spec = client.get("/openapi.json", headers=auth)
    assert spec.status_code == 200, spec.text
    calls = 0
    pii_segment = quote(PII["email"] + " " + PII["card"], safe="")
    query = {k: v for k, v in PII.items()}
    body = {"text": PII_TEXT, "reason": PII_TEXT, "properties": {"email": PII["email"]}, **PII}
    for path, ops in spec.json()["paths"].items():
        concrete = path
        while "{" in concrete:
            start, end = concrete.index("{"), concrete.index("}")
            concrete = concrete[:start] + pii_segment + concrete[end + 1 :]
        for method in ops:
            for headers in (auth, {}, {"Authorization": f"Bearer {PII['api_key']}"}):
                hdrs = {**headers, "X-Note": PII_TEXT.encode("ascii", "ignore").decode()}
                client.request(method.upper(), concrete, params=query, headers=hdrs, json=body)
                client.request(
                    method.upper(),
                    concrete,
                    headers={**hdrs, "content-type": "application/json"},
                    content=("{not json " + PII_TEXT).encode(),
                )
                calls += 2
    return calls


def _assert_clean(output: str) -> None:
    assert "Logging error" not in output, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    leaked = sorted(f for f in FORBIDDEN if f in output)
    assert not leaked, f"leaked {leaked} in:\n{output[-4000:]}"


def test_http_api_logs_are_clean(data_dir: Path, run_server) -> None:  # type: ignore[no-untyped-def]
    server = run_server(["serve"], _env(data_dir, CHAMBERLAIN_HTTP_TOKEN=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Chamberlain-User": "u_alice"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        calls = _probe_openapi(client, auth)
        client.post("/v1/ask", headers=auth, json={"text": "x" * 100_000 + PII["email"]})
        client.post("/v1/ask", headers={**auth, "X-Chamberlain-User": PII["email"]}, json={"text": "hi"})
    output = server.stop()
    assert calls >= 10
    assert output.count('" 200') >= 1 and output.count('" 401') >= 1  # the access log works
    _assert_clean(output)


def test_crm_service_logs_are_clean(data_dir: Path, run_server) -> None:  # type: ignore[no-untyped-def]
    server = run_server(["crm", "serve"], _env(data_dir))
    auth = {"Authorization": "Bearer local-dev-token"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        calls = _probe_openapi(client, auth)
        client.post(
            "/crm/v3/objects/contacts",
            headers=auth,
            json={"properties": {"email": PII["email"], "phone": PII["phone"], "firstname": PII["ssn"]}},
        )
    output = server.stop()
    assert calls >= 10 and '" 200' in output
    _assert_clean(output)


def _signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={sig}", "content-type": "application/json"}


def test_slack_app_logs_are_clean(data_dir: Path, run_server) -> None:  # type: ignore[no-untyped-def]
    with FakeSlack() as fake:
        env = _env(
            data_dir,
            SLACK_BOT_TOKEN="xoxb-test-token-123456",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            CHAMBERLAIN_SLACK_API_URL=fake.base_url,
        )
        server = run_server(["slack", "serve"], env)
        event = {
            "type": "event_callback",
            "team_id": "T0LARKSPUR",
            "event_id": "Ev0PII",
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": "D1",
                "user": "U0ALICE",
                "text": PII_TEXT,
                "ts": "1700000000.000100",
                "event_ts": "1700000000.000100",
            },
        }
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for payload in (event, {"type": "url_verification", "challenge": PII["email"]}):
                raw = json.dumps(payload).encode()
                client.post("/slack/events", content=raw, headers=_signed(raw))  # accepted
                client.post("/slack/events", content=raw, headers={"content-type": "application/json"})  # rejected
            client.post(f"/slack/events?email={quote(PII['email'])}", content=b"token=" + PII["api_key"].encode())
            client.get(f"/nowhere/{quote(PII['email'])}", headers={"X-Note": PII["ssn"]})
        time.sleep(1.0)  # the event is handled after the ack
        output = server.stop()
    assert '" 200' in output and '" 401' in output
    _assert_clean(output)
