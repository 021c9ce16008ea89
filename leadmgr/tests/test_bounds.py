"""The shape the code keeps (bin/check-bounds): modules of at most 500 lines, functions of at most
60, and the database named in code only in leadmgr/storage and the settings."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bin" / "check-bounds"


def _bounds():
    loader = importlib.machinery.SourceFileLoader("check_bounds", str(SCRIPT))
    spec = importlib.util.spec_from_loader("check_bounds", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_tree_keeps_its_bounds():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(ROOT)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("bounds kept in ")


def test_the_check_sees_a_long_module_a_long_function_and_a_database_name(tmp_path):
    app = tmp_path / "leads"
    app.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (app / "long.py").write_text("def long():\n" + body + "\n" + "\n" * 450)
    (app / "asks.py").write_text(
        '"""SQLite keeps datetimes as text: prose may say so."""\n'
        "from django.db import connection\n\n"
        "def fast():\n"
        '    return connection.vendor == "sqlite"\n'
    )
    storage = tmp_path / "leadmgr" / "storage"
    storage.mkdir(parents=True)
    (storage / "__init__.py").write_text('def is_sqlite(conn):\n    return conn.vendor == "sqlite"\n')
    problems = _bounds().check(tmp_path)
    assert any(p.startswith("leads/long.py: ") and "(bound 500)" in p for p in problems)
    assert any("long() is 62 lines (bound 60)" in p for p in problems)
    assert [p for p in problems if p.startswith("leads/asks.py")] == [
        "leads/asks.py:5: names the database ('sqlite'): ask leadmgr.storage instead",
        "leads/asks.py:5: names the database ('vendor'): ask leadmgr.storage instead",
    ]
    assert not [p for p in problems if p.startswith("leadmgr/storage")]
