"""A load test of the whole system on this machine (loopback only), bounded in time.

    .venv/bin/python bench/load/run.py                   # PostgreSQL, 1,000,000 leads, 50 users, 180 s
    .venv/bin/python bench/load/run.py --sqlite          # the same on a SQLite file
    .venv/bin/python bench/load/run.py --sqlite --leads 300 --users 2 --duration 5 --import-rows 200

1. The database: a copy of a generated one (``bench/generate.py``), made once and kept. PostgreSQL:
   ``<database>_base_<N>`` is generated once, then each run recreates ``<database>`` from it as a
   template; SQLite: ``<data-dir>/leads-<N>.sqlite3`` is generated once and copied. Then 50 operator
   accounts (group Operators), the running demo campaign's concurrency limit, two import campaigns.
2. The unloaded figure: ``manage.py import_leads`` of the import CSV (``--import-rows``) into one
   campaign, with nothing else running.
3. The production set-up: ``bin/serve`` (what ``make serve`` runs: check --deploy, migrate,
   collectstatic, gunicorn with gunicorn.conf.py and whitenoise, one runner, the job worker) on a free
   127.0.0.1 port, plus ``--runners - 1`` more ``run_campaigns`` with the simulated provider.
4. The load, all at once: locust headless (``locustfile.py``, ``--users`` signed-in operators for
   ``--duration`` s) and the same import into the other campaign. CPU and memory of every process and
   the machine's load average are sampled each second.
5. Everything stops (SIGTERM, then SIGKILL of each process group after a grace; also on Ctrl-C or an
   error), the database is checked (claims in the window, double dials, leads left in Processing)
   and the report is printed, and written as JSON to ``--json`` (default <data-dir>/load-report-<db>.json).

Targets: p95 ≤ 300 ms for every page, 0 errors, 0 double dials, import under load ≥ 50% of its
unloaded rows/s.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from pages import PAGES  # noqa: E402

# The client of a PostgreSQL backend in its process title: "127.0.0.1(53234)", "[::1](5)", "[local]".
BACKEND_CLIENT = re.compile(r".+\(\d+\)|\[local\]")
PG_SERVER = os.environ.get("LOAD_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
TARGET_P95_MS = 300
TARGET_IMPORT_RATIO = 0.5
# Not held to the page target, still reported: checking a password is slow on purpose (Django's
# PBKDF2, over a million iterations: several hundred ms of CPU), and happens once per session.
P95_EXEMPT = {"sign-in POST"}
US_AREAS = ["212", "312", "415", "512", "617", "646", "702", "713", "801", "206", "303", "404", "602", "305"]
# What the shell that runs this may hold but the served site must not inherit (bin/serve decides).
NOT_INHERITED = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "HOST",
    "PORT",
    "DJANGO_SETTINGS_MODULE",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def phone_for(index: int) -> str:
    """leads.demo.phone_for: numbers above the generated leads' indexes are new to the database."""
    area = US_AREAS[index % len(US_AREAS)]
    rest = index // len(US_AREAS)
    return f"+1{area}{200 + (rest // 10_000) % 800}{rest % 10_000:04d}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- processes --------------------------------------------------------------------------------------


def log_name(role: str) -> str:
    """A process's log file name: "import (unloaded)" → import-unloaded."""
    return re.sub(r"[^\w.]+", "-", role).strip("-")


@dataclass
class Proc:
    role: str
    popen: subprocess.Popen
    started: float = field(default_factory=time.monotonic)


class Processes:
    """Every process this run starts, each in a session of its own, so that its whole group (gunicorn's
    workers, the import's phone workers) can be stopped at the end whatever happened."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.all: list[Proc] = []

    def start(self, role: str, cmd: list[str], env: dict[str, str]) -> Proc:
        out = open(self.logs / f"{log_name(role)}.out", "w")  # noqa: SIM115 (closed with the process)
        err = open(self.logs / f"{log_name(role)}.err", "w")  # noqa: SIM115
        popen = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True)
        out.close()
        err.close()
        proc = Proc(role, popen)
        self.all.append(proc)
        return proc

    def stop(self, procs: list[Proc], grace: float) -> None:
        """SIGTERM to each, wait up to ``grace`` s, then SIGKILL to each one's process group."""
        for p in procs:
            if p.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for p in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=5)

    def stop_all(self, grace: float = 10) -> None:
        self.stop(self.all, grace)


# --- sampling ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    role: str
    pid: int
    first_cpu: float
    last_cpu: float = 0.0
    first_at: float = 0.0
    last_at: float = 0.0
    peak_rss: int = 0
    rss_total: int = 0
    samples: int = 0


class Sampler(threading.Thread):
    """Each second: CPU time and RSS of every process of the run (by role) and of the database
    server, the machine's CPU use and load average."""

    def __init__(self, roots: list[Proc], database: str | None) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.database = database  # PostgreSQL: the database whose backends are ours
        self.stopped = threading.Event()
        self.procs: dict[int, tuple[psutil.Process, Sample]] = {}
        self.loadavg: list[float] = []
        self.machine_cpu: list[float] = []
        self.started_at = self.ended_at = 0.0
        self.outsiders: set[int] = set()  # the database server's processes: not ours to stop

    def _role(self, root: Proc, proc: psutil.Process) -> str:
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(proc.cmdline())
            if "gunicorn" in cmd:
                return "web (gunicorn master)" if proc.pid == self._gunicorn_master(root) else "web worker"
            if "run_campaigns" in cmd:
                return "runner"
            if "db_worker" in cmd:
                return "job worker"
            if root.role == "locust":
                return "locust (the simulated users)"
            if root.role.startswith("import"):
                return root.role if proc.pid == root.popen.pid else f"{root.role}: phone worker"
            if proc.pid == root.popen.pid and root.role == "serve":
                return "bin/serve (bash)"
        return root.role

    def _gunicorn_master(self, root: Proc) -> int | None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(root.popen.pid).children():
                if "gunicorn" in " ".join(child.cmdline()):
                    return child.pid
        return None

    def _candidates(self) -> list[tuple[str, psutil.Process]]:
        found = []
        for root in self.roots:
            with contextlib.suppress(psutil.Error):
                top = psutil.Process(root.popen.pid)
                for proc in [top, *top.children(recursive=True)]:
                    found.append((self._role(root, proc), proc))
        if self.database:
            # A backend's title names its database ("postgres: 15/main: <user> <database> <client>
            # <state>"): ours, else the server's own processes (checkpointer, WAL writer, …); the
            # backends of other databases on a shared server are left out.
            for proc in psutil.process_iter(["name", "cmdline"]):
                if proc.info["name"] not in ("postgres", "postmaster"):
                    continue
                words = " ".join(proc.info["cmdline"] or ()).split()
                client = next((i for i, w in enumerate(words) if BACKEND_CLIENT.fullmatch(w)), None)
                if client is None:
                    role = "PostgreSQL: server processes (shared)"
                elif words[client - 1] == self.database:
                    role = "PostgreSQL: this database's backends"
                else:
                    continue
                found.append((role, proc))
                self.outsiders.add(proc.pid)
        return found

    def sample(self) -> None:
        now = time.monotonic()
        for role, proc in self._candidates():
            try:
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue  # it has ended and holds no memory: its last living sample stands
                    times = proc.cpu_times()
                    cpu = times.user + times.system
                    rss = proc.memory_info().rss
            except psutil.Error:
                continue
            if rss == 0:
                continue  # caught between fork and exec, or ending: not a reading of its memory
            known = self.procs.get(proc.pid)
            if known is None:
                s = Sample(role, proc.pid, first_cpu=cpu, first_at=now)
                self.procs[proc.pid] = (proc, s)
            else:
                s = known[1]
            s.last_cpu, s.last_at = cpu, now
            s.peak_rss = max(s.peak_rss, rss)
            s.rss_total += rss
            s.samples += 1
        self.loadavg.append(os.getloadavg()[0])
        self.machine_cpu.append(psutil.cpu_percent(interval=None))

    def run(self) -> None:
        psutil.cpu_percent(interval=None)
        self.started_at = time.monotonic()
        while not self.stopped.wait(1.0):
            self.sample()
        self.ended_at = time.monotonic()

    def report(self) -> dict:
        window = max(self.ended_at - self.started_at, 1e-9)
        rows = []
        for _, s in sorted(self.procs.values(), key=lambda item: (item[1].role, item[1].pid)):
            rows.append(
                {
                    "role": s.role,
                    "pid": s.pid,
                    "cpu_s": round(s.last_cpu - s.first_cpu, 2),
                    "cpu_pct_of_window": round(100 * (s.last_cpu - s.first_cpu) / window, 1),
                    "peak_rss_mb": round(s.peak_rss / 2**20, 1),
                    "mean_rss_mb": round(s.rss_total / max(s.samples, 1) / 2**20, 1),
                }
            )
        roles: dict[str, dict] = {}
        for row in rows:
            r = roles.setdefault(
                row["role"], {"processes": 0, "cpu_s": 0.0, "peak_rss_mb": 0.0, "sum_peak_rss_mb": 0.0}
            )
            r["processes"] += 1
            r["cpu_s"] = round(r["cpu_s"] + row["cpu_s"], 2)
            r["peak_rss_mb"] = max(r["peak_rss_mb"], row["peak_rss_mb"])
            r["sum_peak_rss_mb"] = round(r["sum_peak_rss_mb"] + row["peak_rss_mb"], 1)
        for r in roles.values():
            r["cpu_pct_of_window"] = round(100 * r["cpu_s"] / window, 1)
        ours = sum(r["cpu_s"] for name, r in roles.items())
        cores = psutil.cpu_count() or 1
        busy = sum(self.machine_cpu) / max(len(self.machine_cpu), 1)
        return {
            "window_s": round(window, 1),
            "processes": rows,
            "roles": roles,
            "machine": {
                "cores": cores,
                "loadavg_1m_min": min(self.loadavg, default=0.0),
                "loadavg_1m_mean": round(sum(self.loadavg) / max(len(self.loadavg), 1), 2),
                "loadavg_1m_max": max(self.loadavg, default=0.0),
                "cpu_busy_pct": round(busy, 1),
                # CPU the machine spent on anything but this run (other users' work), in cores.
                "others_cores": round(max(0.0, busy / 100 * cores - ours / window), 2),
            },
        }


# --- the database -----------------------------------------------------------------------------------


def generate(url: str, leads: int) -> None:
    log(f"generating {leads:,} leads into {url} (once; kept for the next runs) …")
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), str(leads)],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": url},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def prepare_sqlite(data: Path, leads: int) -> str:
    base = data / f"leads-{leads}.sqlite3"
    if not base.exists():
        partial = base.with_suffix(".partial")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        generate(f"sqlite:///{partial}", leads)
        sqlite3.connect(partial).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
        partial.rename(base)
    target = data / "load.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, target)
    return f"sqlite:///{target}"


def find_initdb() -> Path | None:
    """PostgreSQL's initdb (pg_ctl beside it): on the PATH, else Debian's newest server version."""
    if found := shutil.which("initdb"):
        return Path(found)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1] if versions else None


@contextlib.contextmanager
def postgres_cluster(directory: Path, conf: Path, logs: Path):
    """A PostgreSQL server of the run's own, with ``conf`` included in its settings (``--pg-conf``):
    made once with initdb in ``directory`` and kept (the generated database with it), started on a
    free loopback port for the run and stopped at its end. Yields the server's URL."""
    initdb = find_initdb()
    if initdb is None:
        raise SystemExit("--pg-conf needs PostgreSQL's server programs (initdb, pg_ctl)")
    pg_ctl = initdb.with_name("pg_ctl")
    as_owner: list[str] = []
    if os.getuid() == 0:  # initdb refuses root: the cluster belongs to the postgres user
        as_owner = ["runuser", "-u", "postgres", "--"]
    cluster = directory / "data"
    if not (cluster / "PG_VERSION").exists():
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        if as_owner:
            shutil.chown(directory, "postgres")
        log(f"initdb {cluster} …")
        subprocess.run([*as_owner, str(initdb), "-D", str(cluster), "-U", "postgres", "-A", "trust"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    settings = cluster / "postgresql.conf"
    kept = [line for line in settings.read_text().splitlines() if not line.endswith("# bench/load/run.py")]
    settings.write_text("\n".join([*kept, f"include '{conf.resolve()}'  # bench/load/run.py", ""]))
    port = free_port()
    server_log = logs / "postgresql-server.log"
    if as_owner:
        server_log.touch()
        shutil.chown(server_log, "postgres")
    subprocess.run(
        [*as_owner, str(pg_ctl), "-D", str(cluster), "-l", str(server_log), "-w", "-t", "120",
         "-o", f"-h 127.0.0.1 -p {port} -k {directory}", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    log(f"PostgreSQL of its own on 127.0.0.1:{port} ({cluster}), with {conf}")
    try:
        yield f"postgres://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_owner, str(pg_ctl), "-D", str(cluster), "-m", "fast", "stop"],
                       check=False, stdout=subprocess.DEVNULL)  # fmt: skip


def server_settings(url: str) -> dict[str, str]:
    """The PostgreSQL server's settings that the figures depend on (deploy/postgresql.conf's)."""
    import psycopg

    names = [
        "shared_buffers",
        "effective_cache_size",
        "max_wal_size",
        "checkpoint_timeout",
        "random_page_cost",
        "max_parallel_workers_per_gather",
    ]
    with psycopg.connect(url) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}


def prepare_postgres(name: str, leads: int, server: str = PG_SERVER) -> str:
    import psycopg

    base = f"{name}_base_{leads}"[:63]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [base]).fetchone()
    complete = False
    if exists:
        with psycopg.connect(f"{server}/{base}") as conn, contextlib.suppress(psycopg.Error):
            complete = conn.execute("SELECT COUNT(*) FROM leads_lead").fetchone()[0] >= leads
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if not complete:
            conn.execute(f'DROP DATABASE IF EXISTS "{base}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{base}"')
    if not complete:
        generate(f"{server}/{base}", leads)
        # Every copy starts settled, as a database that has run a while: hint bits, visibility map.
        with psycopg.connect(f"{server}/{base}", autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
    started = time.perf_counter()
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base}"')
    log(f"{name} copied from {base} in {time.perf_counter() - started:.1f} s")
    return f"{server}/{name}"


def db_task(url: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(HERE / "dbtasks.py"), *args],
        cwd=ROOT,
        env=clean_env() | {"DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"dbtasks.py {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_import_csv(path: Path, rows: int) -> None:
    rng = random.Random(17)
    first = ["Sarah", "John", "Jane", "Miguel", "Aiko", "Priya", "Lars", "Omar", "Wei", "Fatima"]
    last = ["Johnson", "Smith", "Doe", "García", "Tanaka", "Patel", "Nilsson", "Chen"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            ["phone", "customer_name", "company", "last_interaction", "secondary_1_phone", "secondary_1_role"]
        )
        for i in range(rows):
            two = rng.random() < 0.5
            w.writerow(
                [
                    phone_for(30_000_000 + i),  # beyond any generated lead's number
                    f"{rng.choice(first)} {rng.choice(last)}",
                    rng.choice(["Northwind Traders", "Acme Analytics", "Summit Realty"]),
                    "Downloaded the pricing guide",
                    phone_for(60_000_000 + i) if two else "",
                    "CTO" if two else "",
                ]
            )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED and not k.startswith("SECURE_")}
    return env | {"PYTHONUNBUFFERED": "1"} | extra


def site_env(url: str, secret_key: str, **extra: str) -> dict[str, str]:
    """The settings every process of the site shares: bin/serve's loopback choices (plain http)."""
    return clean_env(
        DATABASE_URL=url,
        DEBUG="0",
        SECRET_KEY=secret_key,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        **extra,
    )


# --- the run ----------------------------------------------------------------------------------------


def percent(value: float) -> str:
    return f"{value:.0%}"


def percentile(times: dict[int, int], n: int, share: float) -> float:
    """locust's own percentile over its histogram of rounded response times (ms → count)."""
    wanted, seen = int(n * share), 0
    for ms in sorted(times, reverse=True):
        seen += times[ms]
        if n - seen <= wanted:
            return float(ms)
    return 0.0


def page_figures(times: dict[int, int], requests: int, failures: int, max_ms: float, seconds: float) -> dict:
    return {
        "requests": requests,
        "failures": failures,
        "p50_ms": percentile(times, requests, 0.50),
        "p95_ms": percentile(times, requests, 0.95),
        "p99_ms": percentile(times, requests, 0.99),
        "max_ms": round(max_ms),
        "rps": round(requests / seconds, 2) if seconds else 0.0,
    }


def read_locust(prefix: Path, seconds: float) -> tuple[dict, list[dict]]:
    """Per page figures from locust's final statistics (``--json-file``: every response time), and
    its failure messages (the ``--csv`` failures file)."""
    pages: dict[str, dict] = {}
    every: dict[int, int] = {}
    totals = {"requests": 0, "failures": 0, "max_ms": 0.0}
    for entry in json.loads(Path(f"{prefix}.json").read_text()):
        times = {int(float(ms)): count for ms, count in entry["response_times"].items()}
        for ms, count in times.items():
            every[ms] = every.get(ms, 0) + count
        totals["requests"] += entry["num_requests"]
        totals["failures"] += entry["num_failures"]
        totals["max_ms"] = max(totals["max_ms"], entry["max_response_time"] or 0)
        pages[entry["name"]] = page_figures(
            times, entry["num_requests"], entry["num_failures"], entry["max_response_time"] or 0, seconds
        )
    pages["all requests"] = page_figures(every, seconds=seconds, **totals)
    failures = []
    with contextlib.suppress(FileNotFoundError), open(f"{prefix}_failures.csv", newline="") as f:
        for row in csv.DictReader(f):
            failures.append(
                {"name": row["Name"], "error": row["Error"], "occurrences": int(row["Occurrences"])}
            )
    return pages, failures


def read_request_log(path: Path) -> tuple[float | None, list[tuple[float, str, float, bool]]]:
    """The locustfile's one line per request: (start time, page, ms, failed), and when the last
    user had started (None if the ramp never ended)."""
    spawned_at, rows = None, []
    with contextlib.suppress(FileNotFoundError), open(path) as f:
        for line in f:
            ended, name, value, failed = line.rstrip("\n").split("\t")
            if name == "spawned":
                spawned_at = float(ended)
            else:
                ms = float(value)
                rows.append((float(ended) - ms / 1000, name, ms, failed == "1"))
    return spawned_at, rows


def steady_since(spawned_at: float, rows: list[tuple[float, str, float, bool]]) -> float:
    """When the steady load starts: every user started and every sign-in answered. A sign-in's
    password hash costs a second of CPU on a slow machine, so the last users' sign-ins may still
    queue for a web worker long after the last user started."""
    signed_in = [start + ms / 1000 for start, name, ms, _ in rows if name == "sign-in POST"]
    return max([spawned_at, *signed_in])


def window_pages(rows: list[tuple[float, str, float, bool]], since: float, until: float) -> dict:
    """Per page figures of the requests that started in [since, until)."""
    chosen = [r for r in rows if since <= r[0] < until]
    seconds = max(until - since, 1e-9)
    pages: dict[str, dict] = {}
    every: dict[int, int] = {}
    totals = {"requests": 0, "failures": 0, "max_ms": 0.0}
    for name in sorted({r[1] for r in chosen}):
        times: dict[int, int] = {}
        mine = [r for r in chosen if r[1] == name]
        for _, _, ms, _ in mine:
            times[round(ms)] = times.get(round(ms), 0) + 1
            every[round(ms)] = every.get(round(ms), 0) + 1
        failures = sum(r[3] for r in mine)
        max_ms = max(r[2] for r in mine)
        pages[name] = page_figures(times, len(mine), failures, max_ms, seconds)
        totals["requests"] += len(mine)
        totals["failures"] += failures
        totals["max_ms"] = max(totals["max_ms"], max_ms)
    pages["all requests"] = page_figures(every, seconds=seconds, **totals)
    return pages


def server_statuses(err_log: Path) -> dict[str, int]:
    """Response status classes from the request log (LOG_FORMAT=json), tracebacks seen, and the
    server's own time per request (the rest of what locust measures is the wait for a free worker)."""
    counts: dict[str, int] = {}
    durations: list[float] = []
    with open(err_log, errors="replace") as f:
        for line in f:
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if entry.get("logger") == "leadmgr.request" and "status" in entry:
                        key = f"{str(entry['status'])[0]}xx"
                        counts[key] = counts.get(key, 0) + 1
                        durations.append(float(entry.get("duration_ms", 0)))
                    continue
            if "Traceback" in line:
                counts["tracebacks"] = counts.get("tracebacks", 0) + 1
    durations.sort()
    if durations:
        counts["server_p50_ms"] = round(durations[len(durations) // 2])
        counts["server_p95_ms"] = round(durations[int(len(durations) * 0.95)])
    return counts


def wait_for_health(url: str, serve: Proc, timeout: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serve.popen.poll() is not None:
            # What bin/serve said (a refused check names its setting) goes with the failure.
            said = "".join(
                (logs / f"{log_name(serve.role)}.{kind}").read_text(errors="replace")[-1500:]
                for kind in ("out", "err")
            )
            raise SystemExit(f"bin/serve exited with status {serve.popen.returncode} before serving:\n{said}")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{url}/healthz", timeout=5) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"{url}/healthz did not answer 200 within {timeout:.0f} s")


def timed_import(
    procs: Processes, role: str, env: dict[str, str], path: Path, campaign: str
) -> tuple[Proc, dict]:
    """``import_leads`` in a process of its own, timed from its start to its exit (start-up included,
    the same for the unloaded and the loaded run)."""
    cmd = [sys.executable, "manage.py", "import_leads", str(path), "--campaign", campaign]
    proc = procs.start(role, cmd, env)
    outcome: dict = {}

    def wait() -> None:
        proc.popen.wait()
        outcome["seconds"] = time.monotonic() - proc.started
        outcome["exit_code"] = proc.popen.returncode

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    outcome["thread"] = waiter
    return proc, outcome


def run(args: argparse.Namespace) -> dict:
    data = Path(args.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    kind = "sqlite" if args.sqlite else "postgresql"
    logs = data / f"load-logs-{kind}"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    procs = Processes(logs)
    stack = contextlib.ExitStack()  # the run's own PostgreSQL server (--pg-conf), stopped last
    report: dict = {"database": kind, "leads": args.leads, "users": args.users, "duration_s": args.duration}
    report["started_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report["loadavg_before"] = os.getloadavg()
    try:
        if args.sqlite:
            url = prepare_sqlite(data, args.leads)
        else:
            server = PG_SERVER
            if args.pg_conf:
                server = stack.enter_context(
                    postgres_cluster(data / "load-postgres", Path(args.pg_conf), logs)
                )
            url = prepare_postgres(args.database, args.leads, server)
            report["postgresql"] = server_settings(url)
        password = secrets.token_urlsafe(16)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = site_env(
            url,
            secrets.token_urlsafe(50),
            PY=sys.executable,
            HOST=f"127.0.0.1:{port}",
            STATIC_ROOT=str(data / "load-static"),
            LOG_FORMAT="json",
            LEADMGR_PROVIDER="simulated",
            LEADMGR_SIMULATED_SPEEDUP=str(args.speedup),
            LEADMGR_RUNNER_TICK="1",
            LEADMGR_RUNNER_GRACE="5",
            **({"WEB_CONCURRENCY": str(args.web_workers)} if args.web_workers else {}),
        )
        info = db_task(
            url,
            "setup",
            "--users",
            str(args.users),
            f"--password={password}",  # one "=": a token may start with "-"
            "--concurrency",
            str(args.concurrency),
        )
        log(f"database ready: {info['leads']:,} leads, {info['due_leads']:,} due in the running campaign")
        report["setup"] = {k: v for k, v in info.items() if k != "user_prefix"}
        csv_path = data / f"load-import-{args.import_rows}.csv"
        if not csv_path.exists():
            write_import_csv(csv_path, args.import_rows)

        # The unloaded import: nothing of this run is running besides it.
        log(f"import of {args.import_rows:,} rows, unloaded …")
        report["loadavg_unloaded_import"] = os.getloadavg()
        proc, idle = timed_import(procs, "import (unloaded)", env, csv_path, info["import_campaigns"]["idle"])
        idle["thread"].join()
        if idle["exit_code"] != 0:
            raise SystemExit(f"the unloaded import failed, see {logs}/{log_name(proc.role)}.err")
        idle_rate = args.import_rows / idle["seconds"]
        log(f"  {idle['seconds']:.1f} s, {idle_rate:,.0f} rows/s")

        log(f"starting bin/serve on {base_url} and {args.runners - 1} more runner(s) …")
        serve = procs.start("serve", [str(ROOT / "bin" / "serve")], env)
        wait_for_health(base_url, serve, timeout=600, logs=logs)
        report["web_workers"] = (
            sum(
                1
                for c in psutil.Process(serve.popen.pid).children(recursive=True)
                if "gunicorn" in " ".join(c.cmdline())
            )
            - 1
        )

        def locust(name: str, users: int, seconds: int, wait: str, stop_after_tour: bool) -> Proc:
            prefix = str(logs / name)
            env = clean_env(
                LOAD_USER_PREFIX=info["user_prefix"],
                LOAD_USERS=str(users),
                LOAD_PASSWORD=password,
                LOAD_MAX_LEAD_ID=str(info["max_lead_id"]),
                LOAD_CAMPAIGN_IDS=",".join(map(str, info["campaign_ids"])),
                LOAD_WAIT=wait,
                LOAD_STOP_AFTER_TOUR="1" if stop_after_tour else "0",
                LOAD_REQUEST_LOG=str(logs / f"{name}_requests.tsv"),
            )
            (logs / f"{name}_requests.tsv").unlink(missing_ok=True)
            cmd = [
                sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
                "--users", str(users), "--spawn-rate", str(args.spawn_rate), "--run-time", f"{seconds}s",
                "--host", base_url, "--csv", prefix, "--json-file", prefix, "--only-summary",
                "--stop-timeout", "10", "--loglevel", "WARNING", "--exit-code-on-error", "0",
            ]  # fmt: skip
            return procs.start(name, cmd, env)

        def finish(proc: Proc, seconds: int) -> None:
            try:
                proc.popen.wait(timeout=seconds + 120)
            except subprocess.TimeoutExpired:
                raise SystemExit(f"{proc.role} did not stop by itself within its run time + 120 s") from None

        # The same-run baseline: one user clicking without pause, nothing else of the run busy but
        # bin/serve's own runner.
        if args.baseline:
            log(f"baseline: one user alone for {args.baseline} s …")
            started = time.monotonic()
            finish(locust("baseline", 1, args.baseline, "0,0", False), args.baseline)
            report["baseline"], _ = read_locust(logs / "baseline", time.monotonic() - started)

        # The load: the users and the other runners start together; the import under load starts
        # when the last user has signed in, so that it runs in the steady load the targets judge.
        runners = [
            procs.start(f"runner {i}", [sys.executable, "manage.py", "run_campaigns"], env)
            for i in range(2, args.runners + 1)
        ]
        since = dt.datetime.now(dt.UTC)
        users = locust("locust", args.users, args.duration, args.wait, args.stop_after_tour)
        sampler = Sampler([serve, *runners, users], None if args.sqlite else args.database)
        sampler.start()
        ramp_end = time.monotonic() + min(args.users / args.spawn_rate, args.duration / 2)
        while time.monotonic() < ramp_end and users.popen.poll() is None:
            time.sleep(0.2)
        loaded_proc, loaded = timed_import(
            procs, "import (under load)", env, csv_path, info["import_campaigns"]["loaded"]
        )
        sampler.roots.append(loaded_proc)
        log(
            f"load: {args.users} users for {args.duration} s, {args.runners} runners, an import of {args.import_rows:,} rows"
        )
        finish(users, args.duration)
        until = dt.datetime.now(dt.UTC)
        # The import under load, when slower than the users' run, still finishes (bounded).
        loaded["thread"].join(timeout=args.import_timeout)
        sampler.stopped.set()
        sampler.join()
        if loaded_proc.popen.poll() is None:
            loaded["exit_code"] = "still running: stopped"
        # bin/serve stops the whole site when one of its processes dies on its own.
        report["site_up_to_the_end"] = serve.popen.poll() is None
        if not report["site_up_to_the_end"]:
            log(f"bin/serve stopped on its own during the load (exit status {serve.popen.returncode})")
        log("stopping …")
        procs.stop([*runners, serve], grace=30)
        procs.stop_all(grace=5)

        pages, failures = read_locust(logs / "locust", (until - since).total_seconds())
        for name, figures in pages.items():
            alone = report.get("baseline", {}).get(name)
            if alone and alone["p50_ms"]:
                figures["alone_p50_ms"] = alone["p50_ms"]
                figures["p50_vs_alone"] = round(figures["p50_ms"] / alone["p50_ms"], 1)
        report["pages"] = pages
        # The steady load: from the moment every user had started and was signed in (the sign-in ramp
        # before it is reported above with the rest); the p95 target is judged here.
        spawned_at, rows = read_request_log(logs / "locust_requests.tsv")
        if spawned_at is not None and rows:
            steady_from = steady_since(spawned_at, rows)
            report["ramp_s"] = round(steady_from - min(r[0] for r in rows), 1)
            report["pages_steady"] = window_pages(rows, steady_from, max(r[0] for r in rows) + 1)
        report["failures"] = failures
        report["server_responses"] = server_statuses(logs / "serve.err")
        report["runner_tracebacks"] = sum(
            (logs / f"{log_name(p.role)}.err").read_text(errors="replace").count("Traceback") for p in runners
        )
        report["database_check"] = db_task(
            url, "check", "--since", since.isoformat(), "--until", until.isoformat()
        )
        loaded_rate = args.import_rows / loaded["seconds"] if loaded.get("exit_code") == 0 else 0.0
        report["import"] = {
            "rows": args.import_rows,
            "unloaded_s": round(idle["seconds"], 2),
            "unloaded_rows_per_s": round(idle_rate),
            "under_load_s": round(loaded.get("seconds", 0), 2),
            "under_load_rows_per_s": round(loaded_rate),
            "under_load_exit_code": loaded.get("exit_code"),
            "ratio": round(loaded_rate / idle_rate, 2),
        }
        report["resources"] = sampler.report()
        # Every process the run started or saw under them: all gone by now (the smoke test checks).
        report["pids"] = sorted({p.popen.pid for p in procs.all} | set(sampler.procs) - sampler.outsiders)
        report["ended_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        report["targets"] = targets(report)
        return report
    finally:
        procs.stop_all(grace=10)
        stack.close()


def targets(report: dict) -> dict:
    pages = {n: p for n, p in report["pages"].items() if n != "all requests"}
    steady = {n: p for n, p in report.get("pages_steady", report["pages"]).items() if n != "all requests"}
    slow = sorted(n for n, p in steady.items() if p["p95_ms"] > TARGET_P95_MS and n not in P95_EXEMPT)
    errors = (
        sum(p["failures"] for p in pages.values())
        + report["server_responses"].get("5xx", 0)
        + report["server_responses"].get("tracebacks", 0)
    )
    check = report["database_check"]
    return {
        "p95_le_300ms": {"ok": not slow, "pages_over": slow},
        "zero_errors": {"ok": errors == 0, "errors": errors},
        "zero_double_dials": {"ok": check["double_dials"] == 0 and check["double_claims"] == 0},
        "no_stuck_leads": {"ok": check["processing_left"] == 0},
        "import_ge_half_unloaded": {"ok": report["import"]["ratio"] >= TARGET_IMPORT_RATIO},
        "site_up_to_the_end": {"ok": report["site_up_to_the_end"]},
        "every_page_visited": {"ok": all(pages.get(n, {}).get("requests") for n in PAGES)},
    }


TABLE_HEAD = [
    "| page | requests | errors | p50 ms | p95 ms | p99 ms | max ms | one user alone: p50 ms | p50 ÷ alone |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def page_table(pages: dict, baseline: dict, judged: bool) -> list[str]:
    lines = list(TABLE_HEAD)
    order = [n for n in PAGES if n in pages] + [n for n in pages if n not in PAGES]
    for name in order:
        p = pages[name]
        alone = baseline.get(name, {}).get("p50_ms")
        flag = ""
        if judged and name != "all requests" and p["p95_ms"] > TARGET_P95_MS:
            flag = " (exempt)" if name in P95_EXEMPT else " **over**"
        lines.append(
            f"| {name} | {p['requests']:,} | {p['failures']} | {p['p50_ms']:.0f} | {p['p95_ms']:.0f}{flag} "
            f"| {p['p99_ms']:.0f} | {p['max_ms']:,} | {alone or '–'} "
            f"| {round(p['p50_ms'] / alone, 1) if alone else '–'} |"
        )
    return lines


def render(report: dict) -> str:
    r = report
    m = r["resources"]["machine"]
    steady = "pages_steady" in r
    lines = [
        f"Load test: {r['database']}, {r['leads']:,} leads, {r['users']} users for {r['duration_s']} s, "
        f"{r['web_workers']} web workers; {r['started_utc']} → {r['ended_utc']}",
        f"machine: {m['cores']} cores, load average (1 min) {m['loadavg_1m_min']:.1f}–{m['loadavg_1m_max']:.1f} "
        f"(mean {m['loadavg_1m_mean']:.1f}) during the run, CPU busy {m['cpu_busy_pct']:.0f}%, "
        f"other users' work ≈ {m['others_cores']:.2f} cores",
        *(
            ["PostgreSQL: " + ", ".join(f"{k} {v}" for k, v in r["postgresql"].items())]
            if "postgresql" in r
            else []
        ),
        "",
        "The whole run (the sign-in ramp included):" if steady else "",
        *page_table(r["pages"], r.get("baseline", {}), judged=not steady),
    ]
    if steady:
        lines += [
            "",
            f"The steady load (every user signed in, after the {r['ramp_s']:.0f} s ramp; the p95 target is judged here):",
            *page_table(r["pages_steady"], r.get("baseline", {}), judged=True),
        ]
    for f in r["failures"]:
        lines.append(f"failure: {f['name']}: {f['error']} ×{f['occurrences']}")
    c, i = r["database_check"], r["import"]
    lines += [
        "",
        f"server responses (request log): {json.dumps(r['server_responses'])}; runner tracebacks: {r['runner_tracebacks']}",
        f"runners: {c['claims']:,} claims in {c['seconds']:.0f} s = {c['claims_per_s']:.1f} claims/s; "
        f"{c['dials']:,} dials, {c['results']:,} results; double dials {c['double_dials']} "
        f"(overlapping {c['overlapping_calls']}, never ended {c['calls_never_ended']}), double claims "
        f"{c['double_claims']}, left in Processing {c['processing_left']}",
        f"import of {i['rows']:,} rows: unloaded {i['unloaded_s']:.1f} s ({i['unloaded_rows_per_s']:,} rows/s), "
        f"under load {i['under_load_s']:.1f} s ({i['under_load_rows_per_s']:,} rows/s) = {i['ratio']:.2f}× "
        f"(imported: {c['imported']})",
        "",
        "| process (role) | processes | CPU s | CPU % of the window | peak RSS MB (largest) | peak RSS MB (sum) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for role, x in sorted(r["resources"]["roles"].items()):
        lines.append(
            f"| {role} | {x['processes']} | {x['cpu_s']:.1f} | {x['cpu_pct_of_window']:.0f}% "
            f"| {x['peak_rss_mb']:.0f} | {x['sum_peak_rss_mb']:.0f} |"
        )
    lines.append("")
    for name, t in r["targets"].items():
        extra = {k: v for k, v in t.items() if k != "ok"}
        lines.append(f"target {name}: {'ok' if t['ok'] else 'MISS'} {json.dumps(extra) if extra else ''}")
    return "\n".join(lines)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sqlite", action="store_true", help="run on a SQLite file instead of PostgreSQL")
    parser.add_argument("--database", default="leadmgr_load", help="PostgreSQL database name (recreated)")
    parser.add_argument(
        "--pg-conf",
        help="run a PostgreSQL server of its own (in <data-dir>/load-postgres, kept) with these settings "
        "included, e.g. deploy/postgresql.conf; default: the server at LOAD_PG_SERVER (127.0.0.1:5432)",
    )
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=2, help="users signing in per second")
    parser.add_argument("--duration", type=int, default=240, help="seconds of load")
    parser.add_argument(
        "--stop-after-tour",
        action="store_true",
        help="end the load once every user has visited every page (--duration still bounds it)",
    )
    parser.add_argument(
        "--baseline", type=int, default=30, help="seconds of one user alone before the load (0: none)"
    )
    parser.add_argument("--wait", default="3,10", help="seconds an operator pauses between clicks: min,max")
    parser.add_argument("--runners", type=int, default=4, help="run_campaigns workers (bin/serve's included)")
    parser.add_argument("--concurrency", type=int, default=100, help="the running campaign's call limit")
    parser.add_argument(
        "--speedup",
        type=int,
        default=1,
        help="simulated calls last 1/speedup of real ones (1: real durations, a real team's dial rate; "
        "100 stresses the runners at about 40 times that)",
    )
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument(
        "--import-timeout", type=float, default=900, help="seconds the import may outlast the users"
    )
    parser.add_argument(
        "--web-workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py's)"
    )
    parser.add_argument("--data-dir", default=str(ROOT / "bench" / "data"))
    parser.add_argument("--json", help="where to write the report (default <data-dir>/load-report-<db>.json)")
    args = parser.parse_args()
    if args.runners < 1:
        parser.error("--runners must be at least 1 (bin/serve starts one)")
    # A SIGTERM ends the run like Ctrl-C: the finally blocks stop every process group.
    signal.signal(signal.SIGTERM, _interrupt)
    report = run(args)
    out = Path(args.json or Path(args.data_dir) / f"load-report-{report['database']}.json")
    out.write_text(json.dumps(report, indent=2))
    print(render(report))
    print(f"\n(report: {out})")


if __name__ == "__main__":
    main()
