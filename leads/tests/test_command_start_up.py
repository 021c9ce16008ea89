"""The CSV commands as users run them: ``manage.py`` in a process of its own. They start without
loading the web app's views and API schema, which the system checks import for nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB_APP = ("leads.views", "campaigns.views", "drf_spectacular.views")
# The admin's modules load with the URLconf (leadmgr/apps.py), openpyxl with a workbook.
ADMIN_AND_EXCEL = ("leads.admin", "campaigns.admin", "import_export.admin", "openpyxl")


# manage.py as users run it, then the modules it had imported when it exited (``-X importtime``
# leaves out what ``importlib.import_module`` loads: the settings, the apps, the admin modules).
RUN_AND_LIST = (
    "import atexit, runpy, sys; "
    "atexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr)); "
    "sys.argv = ['manage.py', *sys.argv[1:]]; "
    "runpy.run_path('manage.py', run_name='__main__')"
)


def imported_by(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = os.environ | {"DATABASE_URL": "sqlite:///:memory:", "DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    [listing] = [line for line in result.stderr.splitlines() if line.startswith("MODULES ")]
    return result, set(listing.split()[1:])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("export_leads", "--status", "bogus", "-o", os.devnull), "'bogus' is not a status"),
        (("import_leads", "no-such-file.csv"), "no-such-file.csv"),
    ],
    ids=["export_leads", "import_leads"],
)
def test_a_csv_command_starts_without_loading_the_web_app(args, error):
    result, modules = imported_by(*args)
    assert result.returncode == 1 and error in result.stderr  # the command itself ran and answered
    assert "leads.csv.commands" in modules
    assert not modules & set(WEB_APP), sorted(modules & set(WEB_APP))
    assert not modules & set(ADMIN_AND_EXCEL), sorted(modules & set(ADMIN_AND_EXCEL))


def test_the_system_checks_do_load_it():
    """What the commands skip: ``manage.py check`` imports the views and the API schema."""
    result, modules = imported_by("check")
    assert result.returncode == 0, result.stderr[-2000:]
    assert set(WEB_APP) <= modules
    assert set(ADMIN_AND_EXCEL) <= modules  # the admin's checks see every ModelAdmin
