"""The scale-out path: a real Chroma server (``chroma run``) on loopback, reached by HttpClient."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.errors import ConnectorUnavailable
from connectors.knowledge import HashingEmbedder, KnowledgeIndex

# chromadb's HTTP client leaves its keep-alive sockets to the garbage collector.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        exe = Path(shutil.which("chroma") or "chroma")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("the local Chroma server did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        _drop_http_clients()


def _drop_http_clients() -> None:
    """Close the HTTP sessions chromadb caches per server (it never closes them itself)."""
    from chromadb.api import ServerAPI
    from chromadb.api.client import SharedSystemClient

    for system in list(SharedSystemClient._identifier_to_system.values()):
        session = getattr(system.instance(ServerAPI), "_session", None)
        if session is not None:
            session.close()


def test_two_workers_share_one_chroma_server(tmp_path: Path, chroma_url: str) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pay.md").write_text("---\ngroups: [hr]\n---\n# Pay\n\nSalary bands by level.")
    (docs / "menu.md").write_text("# Menu\n\nCanteen salary-free lunch menu.")
    writer = KnowledgeIndex.open(tmp_path / "w1", chroma_url=chroma_url, embedder=HashingEmbedder(32))
    assert sorted(writer.ingest(docs).added) == ["menu", "pay"]

    # Another worker: its own (empty) data dir, the embedder found by name on the server, and
    # a keyword index rebuilt from the server's corpus.
    reader = KnowledgeIndex.open(tmp_path / "w2", chroma_url=chroma_url)
    assert reader.embedder.name == "chamberlain-hashing"
    for mode in ("hybrid", "vector", "bm25"):
        outsider = reader.search("salary bands", {"sales"}, 5, mode)  # type: ignore[arg-type]
        assert [h.passage.doc_id for h in outsider] == ["menu"]
        member = reader.search("salary bands", {"hr"}, 5, mode)  # type: ignore[arg-type]
        assert member[0].passage.doc_id == "pay"
    assert writer.ingest(docs).chunks_embedded == 0

    # The writer changes the corpus; the reader notices at its next freshness check.
    (docs / "pay.md").write_text("# Pay\n\nSalary bands by level, now public.")
    assert writer.ingest(docs).updated == ["pay"]
    reader.REFRESH_SECONDS = 0.0
    hits = reader.search("salary bands", {"sales"}, 5, "bm25")
    assert hits[0].passage.doc_id == "pay" and "now public" in hits[0].passage.text


def test_unreachable_server_is_retryable(tmp_path: Path) -> None:
    with pytest.raises(ConnectorUnavailable, match="Chroma"):
        KnowledgeIndex.open(tmp_path, chroma_url=f"http://127.0.0.1:{_free_port()}", embedder=HashingEmbedder(8))
