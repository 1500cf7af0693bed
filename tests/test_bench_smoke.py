"""`python -m bench` still works end to end: a smoke run (about 20 s), not a timed assertion.

It starts the production server, Redis and SQLite as the bench always does, runs three
scenarios with wrk for 3 seconds each, and checks that the table and the raw numbers were
written with requests and no errors for those rows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("healthz", "client_credentials", "refresh")

pytestmark = [pytest.mark.bench,
              pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")]


def test_quick_bench_writes_its_table(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-peer", "--scenarios", ",".join(SCENARIOS),
         "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180)  # a hang guard, not a measurement
    assert done.returncode == 0, done.stderr[-3000:]
    markdown, = tmp_path.glob("*.md")
    raw, = tmp_path.glob("*.json")
    assert markdown.with_suffix(".json") == raw
    table = markdown.read_text()
    results = json.loads(raw.read_text())
    rows = {row["scenario"]: row for row in results["rows"]}
    assert set(SCENARIOS) <= set(rows)
    for name in SCENARIOS:
        ours = rows[name]["sesame_total"]
        assert ours["requests"] > 0, name
        assert ours["errors"] == 0, (name, rows[name]["sesame"])
        assert rows[name]["peer_total"] is None  # --no-peer
        assert f"| {name} |" in table
    assert results["machine"]["cores"]
    assert "healthz" in results["ceilings"]
    assert "client_credentials: Sésame round 1/1" in done.stderr
