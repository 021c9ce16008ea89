"""The load test (bench/load/run.py) at a tiny size, so the harness cannot rot: SQLite, a few hundred
leads, two signed-in operators for a few seconds, two runners and a small import beside them. Every
page the operators visit answers without an error, the runners dial no lead twice, and every process
the run started is gone when it returns. And its PostgreSQL of its own (``--pg-conf``) starts with the
settings it is given."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "load"))
import run  # noqa: E402
from pages import PAGES  # noqa: E402

# What a developer's shell may hold that the served site must not inherit (the driver sets its own).
# DJANGO_ALLOW_ASYNC_UNSAFE: the browser tests' harness sets it in this process, and check --deploy
# (bin/serve) rightly refuses it.
_DROPPED = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "DEBUG",
    "HOST",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def test_the_load_driver_reports_every_page_without_errors_and_stops_everything(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("SECURE_")}
    report_path = tmp_path / "report.json"
    # A tiny size; the load ends once both users have visited every page (at most 120 s).
    options = {
        "--leads": 300,
        "--users": 2,
        "--spawn-rate": 2,
        "--duration": 120,
        "--baseline": 1,
        "--wait": "0.1,0.3",
        "--runners": 2,
        # Few calls at once, each a second or two (speed-up 100): the 150-odd due leads last past the
        # baseline and keep being claimed through the load (at speed-up 10 a quick tour could end
        # while the first five calls were still under way, with no claim inside it).
        "--concurrency": 5,
        "--speedup": 100,
        "--import-rows": 200,
        "--web-workers": 2,
        "--data-dir": tmp_path,
        "--json": report_path,
    }
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load" / "run.py"),
            "--sqlite",
            "--stop-after-tour",
            *(str(item) for pair in options.items() for item in pair),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(report_path.read_text())

    pages = report["pages"]
    assert sorted(n for n in PAGES if pages.get(n, {}).get("requests", 0) == 0) == []
    assert {n: p["failures"] for n, p in pages.items() if p["failures"]} == {}
    assert report["failures"] == []
    assert report["server_responses"].get("5xx", 0) == 0
    assert report["server_responses"].get("tracebacks", 0) == 0
    assert report["runner_tracebacks"] == 0
    assert report["targets"]["every_page_visited"]["ok"] is True
    assert report["site_up_to_the_end"] is True
    # The same-run baseline (one user alone) was measured and set beside the loaded figures.
    assert report["baseline"]["sign-in POST"]["requests"] == 1
    assert pages["sign-in form"]["alone_p50_ms"] > 0
    assert report["targets"]["zero_errors"] == {"ok": True, "errors": 0}

    check = report["database_check"]
    assert check["claims"] > 0 and check["dials"] > 0
    assert (check["double_dials"], check["double_claims"], check["processing_left"]) == (0, 0, 0)
    assert check["imported"] == {"idle": 200, "loaded": 200}
    assert report["import"]["under_load_exit_code"] == 0
    assert report["import"]["unloaded_rows_per_s"] > 0 and report["import"]["under_load_rows_per_s"] > 0

    roles = report["resources"]["roles"]
    assert {"web worker", "runner", "job worker", "locust (the simulated users)"} <= set(roles)
    assert roles["web worker"]["processes"] == 2 and roles["runner"]["processes"] == 2
    assert all(roles[r]["peak_rss_mb"] > 0 for r in roles)

    # Nothing left running: every process the run started, and every one seen under them.
    assert report["pids"]
    assert [pid for pid in report["pids"] if psutil.pid_exists(pid)] == []
    assert "| lead edit POST |" in done.stdout


def test_the_load_test_runs_a_postgresql_of_its_own_with_the_given_settings():
    if run.find_initdb() is None:
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    top = Path(tempfile.mkdtemp(prefix="leadmgr-load-pg-"))
    try:
        top.chmod(0o755)  # the server's own user reaches its directory, the settings and the log
        conf = top / "settings.conf"
        conf.write_text("shared_buffers = 24MB\nmax_wal_size = 96MB\n")
        logs = top / "logs"
        logs.mkdir()
        with run.postgres_cluster(top / "cluster", conf, logs) as server:
            settings = run.server_settings(f"{server}/postgres")
        assert (settings["shared_buffers"], settings["max_wal_size"]) == ("24MB", "96MB")
        assert (top / "cluster" / "data" / "PG_VERSION").exists()  # kept for the next run
        with run.postgres_cluster(top / "cluster", conf, logs) as server:  # started again, not made anew
            assert run.server_settings(f"{server}/postgres")["shared_buffers"] == "24MB"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_the_steady_load_starts_once_every_user_is_signed_in():
    """The report's steady window ("every user signed in") starts at the later of the last user's
    start and the last sign-in's answer, which on a slow machine comes seconds after."""
    rows = [
        (100.0, "sign-in POST", 1_500.0, False),
        (101.0, "leads table", 80.0, False),
        (103.0, "sign-in POST", 14_000.0, False),  # answered at 117.0
        (110.0, "lead page", 9_000.0, False),
        (120.0, "lead page", 50.0, False),
    ]
    assert run.steady_since(104.0, rows) == 117.0
    assert run.steady_since(118.0, rows) == 118.0
    pages = run.window_pages(rows, run.steady_since(104.0, rows), 121.0)
    assert pages["lead page"]["requests"] == 1 and "sign-in POST" not in pages
