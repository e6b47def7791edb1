"""Configuration mistakes met deep inside a command are one line with the fix, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.postgres
def test_a_writable_warehouse_login_is_one_line_in_ask(postgres_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CHAMBERLAIN_WAREHOUSE_URL": postgres_url, "CHAMBERLAIN_DATA_DIR": str(tmp_path)}
    res = subprocess.run(
        [sys.executable, "-m", "agent", "ask", "What was Q3 revenue?", "--user", "u_alice"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) <= 3 and "superuser" in res.stderr.lower(), res.stderr


def test_an_unreachable_warehouse_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "CHAMBERLAIN_WAREHOUSE_URL": "postgresql://ro@127.0.0.1:1/warehouse",
           "CHAMBERLAIN_DATA_DIR": str(tmp_path)}  # fmt: skip
    res = subprocess.run(
        [sys.executable, "-m", "agent", "ask", "What was Q3 revenue?", "--user", "u_alice"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "cannot connect to the warehouse" in res.stderr and "URL setting" in res.stderr
