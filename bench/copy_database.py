"""copy_database (SQLite → PostgreSQL by COPY) against dumpdata + loaddata, on generated leads.

    .venv/bin/python bench/copy_database.py [--leads 100000] [--baseline-leads 10000]

Generates (once, into bench/data/) SQLite files of N leads, copies each into a fresh PostgreSQL
database (BENCH_PG_SERVER, default postgres://postgres@127.0.0.1:5432) and prints the times; the
baseline is dumpdata | loaddata of the smaller file (it is too slow to run at the larger size).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, sqlite_with_leads

SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")


def fresh_database(name: str) -> str:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{SERVER}/{name}"


def drop(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(*args: str, database_url: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": database_url},
        check=True,
        **kwargs,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--baseline-leads", type=int, default=10_000)
    args = parser.parse_args()
    for n, baseline in ((args.baseline_leads, True), (args.leads, False)):
        source = sqlite_with_leads(n)
        name = f"leadmgr_bench_copy_{n}"
        target = fresh_database(name)
        started = time.perf_counter()
        manage(
            "copy_database", "--from", source, "--to", target, database_url=source, stdout=subprocess.DEVNULL
        )
        seconds = time.perf_counter() - started
        print(
            f"copy_database        {n:>9,} leads  {seconds:7.1f} s  ({n / seconds:,.0f} leads/s, two migrates included)"
        )
        if baseline:
            target = fresh_database(name)
            manage("migrate", "--noinput", "--verbosity", "0", database_url=target)
            with tempfile.TemporaryDirectory() as tmp:
                dump = Path(tmp) / "dump.json"
                started = time.perf_counter()
                with dump.open("w") as out:
                    excluded = ("--exclude", "contenttypes", "--exclude", "auth.permission")
                    manage("dumpdata", "--natural-foreign", *excluded, database_url=source, stdout=out)
                manage("loaddata", str(dump), database_url=target, stdout=subprocess.DEVNULL)
                seconds = time.perf_counter() - started
            print(
                f"dumpdata + loaddata  {n:>9,} leads  {seconds:7.1f} s  ({n / seconds:,.0f} leads/s, migrate not included)"
            )
        drop(name)


if __name__ == "__main__":
    main()
