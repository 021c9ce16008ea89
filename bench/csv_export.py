"""Export of 1M leads with their secondary contacts against a same-run raw sqlite3 baseline.

    .venv/bin/python bench/generate.py 1000000 (once, with DATABASE_URL=sqlite:///bench/data/1m.sqlite3)
    .venv/bin/python bench/csv_export.py [--db bench/data/1m.sqlite3] [--repeat 3]

Measures, medians of ``--repeat`` runs:

- baseline: one raw ``sqlite3`` connection, leads by id in batches of 2,000 with their contacts
  (one IN query per batch), variables decoded and spread over the same columns, ``csv.writer``;
  the baseline is handed the header for free (no discovery scan);
- export: ``exporter.export_csv(Lead.objects.all(), with_secondary=True)`` — the command's and the
  web download's code path, header discovery included;
- first byte: time to the header chunk, and to the first chunk of rows;
- the whole command: ``manage.py export_leads --with-secondary -o /dev/null`` (interpreter and Django
  start-up, plan, rows) against the baseline run as a process of its own (issue 14);
- peak memory (VmHWM of a fresh subprocess) exporting the first 10k, 100k and all leads.

Output is consumed and discarded (no disk writes in either). Targets (issue 4): ≥ 0.8× baseline,
≤ 80 MB and flat from 10k to 1M, first byte within 0.5 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _harness  # bench/ is on sys.path when a script in it runs
from _harness import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = ROOT / "bench" / "data" / "1m.sqlite3"


def setup(db: Path) -> None:
    # Production settings: with DEBUG on, Django keeps the SQL of every query (up to 9,000) in memory.
    os.environ["DEBUG"] = "0"
    _harness.setup_django(f"sqlite:///{db}")


def baseline(
    db: Path,
    header: list[str],
    n_contacts: int,
    variables: list[str],
    contact_vars: list[str],
    out=None,
) -> tuple[float, int]:
    started = time.perf_counter()
    con = sqlite3.connect(db)
    campaigns = dict(con.execute("SELECT id, name FROM campaigns_campaign"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    total = 0
    rows_out = 0
    cur = con.execute(
        "SELECT id, phone, campaign_id, status, next_attempt_at, attempts, created_at, updated_at, variables"
        " FROM leads_lead ORDER BY id"
    )
    blank = [""] * (1 + len(contact_vars))
    while batch := cur.fetchmany(2000):
        ids = [r[0] for r in batch]
        contacts: dict[int, list] = {}
        for lead_id, phone, cv in con.execute(
            f"SELECT lead_id, phone, variables FROM leads_secondarycontact WHERE lead_id IN ({','.join('?' * len(ids))})"
            " ORDER BY lead_id, position, id",
            ids,
        ):
            contacts.setdefault(lead_id, []).append((phone, cv))
        out_rows = []
        for r in batch:
            values = json.loads(r[8])
            row = [r[0], r[1], campaigns[r[2]], r[3], r[4] or "", r[5], r[6], r[7]]
            row.extend(values.get(v, "") for v in variables)
            own = contacts.get(r[0], ())
            for i in range(n_contacts):
                if i < len(own):
                    cvalues = json.loads(own[i][1])
                    row.append(own[i][0])
                    row.extend(cvalues.get(v, "") for v in contact_vars)
                else:
                    row.extend(blank)
            out_rows.append(row)
        writer.writerows(out_rows)
        if out is not None:
            out.write(buffer.getvalue())
        total += len(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()
        rows_out += len(batch)
    con.close()
    return time.perf_counter() - started, rows_out


def first_rows_with_columns() -> float:
    """Time to the first rows when the columns are chosen (no scan for variable names)."""
    from leads.csv import exporter
    from leads.models import Lead

    started = time.perf_counter()
    chunks = exporter.export_csv(Lead.objects.all(), columns=["status", "customer_name", "company"])
    next(chunks)
    next(chunks)
    elapsed = time.perf_counter() - started
    chunks.close()
    return elapsed


def ours(limit: int | None = None) -> tuple[float, float, float, int, int]:
    """(total s, header s, first rows s, bytes, rows) of exporter.export_csv."""
    from leads.csv import exporter
    from leads.models import Lead

    leads = Lead.objects.all()
    if limit:
        leads = leads.filter(pk__lte=limit)
    started = time.perf_counter()
    chunks = exporter.export_csv(leads, with_secondary=True)
    first = next(chunks)
    header_at = time.perf_counter() - started
    size = len(first)
    rows = 0
    rows_at = None
    for chunk in chunks:
        if rows_at is None:
            rows_at = time.perf_counter() - started
        size += len(chunk)
        rows += chunk.count("\r\n")  # quoted newlines in cells would over-count; the generated data has none
    return time.perf_counter() - started, header_at, rows_at or 0.0, size, rows


def web_first_byte() -> float:
    """Time to the first byte of the web download's body (StreamingHttpResponse over the exporter)."""
    from django.test import RequestFactory

    from leads import csv_views

    class Perms:
        is_authenticated = True
        is_active = True
        pk = 0

        def has_perm(self, perm, obj=None):
            return True

        def has_perms(self, perms, obj=None):
            return True

    from django.test import override_settings

    request = RequestFactory().get("/leads/export/?download=1&with_secondary=1")
    request.user = Perms()
    started = time.perf_counter()
    # The streamed download itself (past LEADMGR_EXPORT_BACKGROUND_ROWS the page hands the column
    # plan to a background job first, which needs a real user).
    with override_settings(LEADMGR_EXPORT_BACKGROUND_ROWS=10**12):
        response = csv_views.export(request)
    body = iter(response.streaming_content)
    next(body)
    first_byte = time.perf_counter() - started
    response.close()
    return first_byte


def command_seconds(db: Path) -> float:
    """``manage.py export_leads --with-secondary`` as a whole (start-up, plan, rows) to /dev/null."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "export_leads", "--with-secondary", "-o", os.devnull],
        env=os.environ | {"DATABASE_URL": f"sqlite:///{db}"},
        check=True,
    )
    return time.perf_counter() - started


def baseline_command_seconds(db: Path, plan_file: Path) -> float:
    """The by-hand baseline as a whole process too (no Django), handed the header."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--db", str(db), "--baseline-child", str(plan_file)], check=True
    )
    return time.perf_counter() - started


def baseline_child(db: Path, plan_file: Path) -> None:
    plan = json.loads(plan_file.read_text())
    # The same work as the command's: written out (to /dev/null), encoded as UTF-8.
    with open(os.devnull, "w", encoding="utf-8", newline="") as out:
        baseline(db, plan["header"], plan["contacts"], plan["variables"], plan["contact_variables"], out)


def memory_child(limit: int) -> None:
    total, header_at, rows_at, size, rows = ours(limit or None)
    peak = peak_rss_mb()
    print(json.dumps({"peak_mb": peak, "rows": rows, "seconds": total}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--baseline-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.db.exists():
        sys.exit(f"{args.db} is missing: generate it with bench/generate.py (see the docstring).")
    if args.baseline_child:
        baseline_child(args.db, args.baseline_child)
        return
    setup(args.db)
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return

    from leads.csv import exporter
    from leads.models import Lead

    n = Lead.objects.count()
    plan = exporter.plan_export(Lead.objects.all(), with_secondary=True)
    base_times, our_times, header_times, rows_times, web_times, chosen_times = [], [], [], [], [], []
    command_times, base_command_times = [], []
    plan_file = args.db.with_suffix(".plan.json")
    plan_file.write_text(
        json.dumps(
            {
                "header": plan.header,
                "contacts": plan.contacts,
                "variables": plan.variables,
                "contact_variables": plan.contact_variables,
            }
        )
    )
    for _ in range(args.repeat):
        base_command_times.append(baseline_command_seconds(args.db, plan_file))
        command_times.append(command_seconds(args.db))
        elapsed, base_rows = baseline(
            args.db, plan.header, plan.contacts, plan.variables, plan.contact_variables
        )
        base_times.append(elapsed)
        total, header_at, rows_at, size, rows = ours()
        our_times.append(total)
        header_times.append(header_at)
        rows_times.append(rows_at)
        web_times.append(web_first_byte())
        chosen_times.append(first_rows_with_columns())
    assert base_rows == n, (base_rows, n)
    memory = {}
    for limit in (10_000, 100_000, 0):
        out = subprocess.run(
            [sys.executable, __file__, "--db", str(args.db), "--memory-child", str(limit)],
            capture_output=True,
            text=True,
            check=True,
        )
        memory[limit or n] = json.loads(out.stdout.strip().splitlines()[-1])
    base, our = statistics.median(base_times), statistics.median(our_times)
    ratio = base / our
    print(f"leads: {n:,} ({plan.contacts} secondary contact columns), medians of {args.repeat}")
    print(f"  baseline (raw sqlite3 + csv.writer)  {base:6.2f} s  {n / base:>9,.0f} rows/s")
    print(
        f"  exporter.export_csv                      {our:6.2f} s  {n / our:>9,.0f} rows/s   {size / 1e6:,.0f} MB of CSV"
    )
    print(f"export / baseline   {ratio:.2f}×   (target ≥ 0.8×)   {'OK' if ratio >= 0.8 else 'MISS'}")
    cmd, base_cmd = statistics.median(command_times), statistics.median(base_command_times)
    print(
        f"export_leads --with-secondary, whole command {cmd:.2f} s against the baseline as a process "
        f"{base_cmd:.2f} s: {base_cmd / cmd:.2f}×   (target ≥ 0.8×)   {'OK' if base_cmd / cmd >= 0.8 else 'MISS'}"
    )
    hdr, first_rows, web = (statistics.median(x) for x in (header_times, rows_times, web_times))
    print(
        f"header (after the column scan)  {hdr:.2f} s; first rows {first_rows:.2f} s   (target ≤ 0.5 s) {'OK' if first_rows <= 0.5 else 'MISS'}"
    )
    print(
        f"first rows with chosen columns   {statistics.median(chosen_times) * 1000:.0f} ms (no scan needed)"
    )
    print(f"web download first byte          {web * 1000:.0f} ms (UTF-8 BOM, sent before the scan)")
    peaks = []
    for count, m in memory.items():
        peaks.append(m["peak_mb"])
        print(f"  peak memory exporting {count:>9,} leads: {m['peak_mb']:5.0f} MB  ({m['seconds']:.1f} s)")
    flat = max(peaks) - min(peaks)
    print(f"peak ≤ 80 MB: {'OK' if max(peaks) <= 80 else 'MISS'}; growth 10k → {n:,}: {flat:.0f} MB")


if __name__ == "__main__":
    main()
