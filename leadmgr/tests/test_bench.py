"""`make bench` on a fresh clone: DEBUG=0 and nothing else set, every script set up through
bench/_harness.py (which supplies a throwaway key, the test host and no HTTPS redirect)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
SCRIPTS = [
    "generate",
    "ui_pages",
    "admin_changelist",
    "csv_import",
    "csv_export",
    "runner_claims",
    "api_bulk",
    "api_list",
]


def fresh_clone_env(**extra: str) -> dict[str, str]:
    """What `make bench` gives a script: DEBUG=0, none of the deployment's variables."""
    dropped = (
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "DJANGO_SETTINGS_MODULE",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    )
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("SECURE_")}
    return env | {"DEBUG": "0"} | extra


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_bench_script_sets_django_up_through_the_harness(script):
    source = (BENCH / f"{script}.py").read_text()
    assert "_harness" in source and "setup_django" in source
    assert "django.setup()" not in source


@pytest.fixture(scope="module")
def tiny_database(tmp_path_factory) -> str:
    # Enough leads for the admin bench's deep page (p=150 at 100 a page).
    url = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'tiny.sqlite3'}"
    result = run(str(BENCH / "generate.py"), "15050", env=fresh_clone_env(DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    assert "generated 15,050 leads" in result.stdout
    return url


def test_the_ui_pages_bench_gets_pages_not_an_https_redirect(tiny_database):
    env = fresh_clone_env(DATABASE_URL=tiny_database)
    result = run(
        str(BENCH / "ui_pages.py"), "--child", "--size", "10k", "--runs", "1", "--warmup", "0", env=env
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["page 1"]["queries"] > 0


def test_the_admin_changelist_bench_measures_its_pages(tiny_database):
    result = run(str(BENCH / "admin_changelist.py"), "--measure", tiny_database, env=fresh_clone_env())
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) >= {"page 1", "search phone"}


@pytest.mark.parametrize("script", ["csv_import", "csv_export", "runner_claims"])
def test_the_other_bench_scripts_start(script):
    result = run(str(BENCH / f"{script}.py"), "--help", env=fresh_clone_env())
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
