"""Shared bits of the benchmark scripts: Django set-up against a chosen database, data files, timing."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"


def setup_django(database_url: str | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadmgr.settings")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 60)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    # Pages render static URLs without collectstatic (no manifest of hashed names here).
    os.environ.setdefault("STATIC_MANIFEST", "0")
    import django

    django.setup()


def sqlite_with_leads(n: int) -> str:
    """The URL of a SQLite file holding n generated leads, generating it on first use."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"leads-{n}.sqlite3"
    if not path.exists():
        tmp = path.with_suffix(".partial")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        print(f"generating {n:,} leads into {path.name} (once) …", file=sys.stderr)
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "generate.py"), str(n)],
            env=os.environ | {"DATABASE_URL": f"sqlite:///{tmp}"},
            check=True,
        )
        import sqlite3

        sqlite3.connect(tmp).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
        tmp.rename(path)
    return f"sqlite:///{path}"


def median_ms(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def time_pages(client, urls: dict[str, str]) -> dict[str, dict]:
    """Each GET's median server time (median_ms) and query count, asserting it answers 200."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results = {}
    for name, url in urls.items():

        def get(url=url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])

        ms = median_ms(get)
        with CaptureQueriesContext(connection) as queries:
            get()
        results[name] = {"ms": ms, "queries": len(queries)}
    return results


def small_against_large(script: str, measure: Callable[[str], dict], heading: str) -> None:
    """A page benchmark's command line: ``measure(database_url)`` (pages → time_pages' figures) runs
    in a subprocess on --small and on --large generated leads, printed side by side with the ratio."""
    import argparse
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    figures = {}
    for n in (args.small, args.large):
        out = subprocess.run(
            [sys.executable, script, "--measure", sqlite_with_leads(n)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures[n] = json.loads(out.strip().splitlines()[-1])
    width = max(len(heading), *(len(name) for name in figures[args.small]))
    print(f"{heading:<{width}} {args.small:>10,} leads {args.large:>12,} leads   ratio  queries")
    for name in figures[args.small]:
        small, large = figures[args.small][name], figures[args.large][name]
        print(
            f"{name:<{width}} {small['ms']:>13.1f} ms {large['ms']:>13.1f} ms {large['ms'] / small['ms']:>6.1f}x"
            f"  {large['queries']}"
        )


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries ru_maxrss over
    exec from the forked parent, so a child started by a big parent would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
