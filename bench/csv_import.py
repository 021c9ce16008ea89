"""Import of 100k CSV rows (1–2 secondary contacts each) against a same-run baseline.

    .venv/bin/python bench/csv_import.py [--rows 100000] [--repeat 3]

Generates the CSV (bench/data/import_<rows>.csv) and a fresh SQLite database
(bench/data/import.sqlite3), then measures, each ``--repeat`` times, medians printed:

- baseline: csv.reader + phonenumbers (parse, is_valid_number, format E.164) for every number +
  sqlite3 ``executemany`` of the same leads and contacts into plain tables (no Django);
- validation only: ``leads.csv.rows.RowParser.parse`` of every row (phones, status, variables, duplicates);
- dry run: ``import_leads(dry_run=True)`` (adds the database checks, writes nothing);
- import: ``import_leads`` into empty campaigns (strict, one transaction);
- peak memory of one import in a subprocess (VmHWM, interpreter and Django included).

With ``--xlsx``, also the same rows as an Excel workbook (bench/data/import_<rows>.xlsx, strings
inline, as openpyxl's write-only mode writes them): bare openpyxl read-only iteration of the
sheet (``iter_rows(values_only=True)``, nothing else) against ``import_leads`` of the workbook.

Targets (issue 4): import ≥ 10,000 rows/s and ≥ 0.7× baseline; ≤ 150 MB; dry run ≤ 1.2× validation.
Issue 14: the same at 1,000,000 rows (``--rows 1000000``: ≥ 10,000 rows/s, ≤ 150 MB), and the
xlsx import ≥ 0.8× the rows/s of bare openpyxl iteration.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _harness  # bench/ is on sys.path when a script in it runs
from _harness import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
DB = DATA / "import.sqlite3"
# Production settings: with DEBUG on, Django keeps the SQL of every query (up to 9,000) in memory.
os.environ["DEBUG"] = "0"
_harness.setup_django(f"sqlite:///{DB}")

import phonenumbers  # noqa: E402
from django.core.management import call_command  # noqa: E402

from campaigns.models import Campaign  # noqa: E402
from leadmgr.storage.bulk import wait_for_checkpoint  # noqa: E402
from leads import demo  # noqa: E402
from leads.csv import columns, importer, reader  # noqa: E402
from leads.csv.importer import ImportOptions  # noqa: E402
from leads.csv.rows import RowParser, parse_rows  # noqa: E402
from leads.models import Lead  # noqa: E402

HEADER = [
    "phone",
    "campaign",
    "status",
    "customer_name",
    "company",
    "last_interaction",
    "secondary_1_phone",
    "secondary_1_contact_name",
    "secondary_1_role",
    "secondary_2_phone",
    "secondary_2_contact_name",
    "secondary_2_role",
]
WORKERS = 2
STATUSES = ["", "", "", "", "", "", "scheduled", "rescheduled", "completed", "max_retries"]


def make_csv(rows: int) -> Path:
    path = DATA / f"import_{rows}.csv"
    if path.exists():
        return path
    rng = random.Random(5)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            first, last = rng.choice(demo.FIRST), rng.choice(demo.LAST)
            two = rng.random() < 0.5
            w.writerow(
                [
                    demo.phone_for(i),
                    "Spring demo follow-up",
                    rng.choice(STATUSES),
                    f"{first} {last}",
                    rng.choice(demo.COMPANIES),
                    rng.choice(demo.INTERACTIONS),
                    demo.phone_for(20_000_000 + 2 * i),
                    f"{rng.choice(demo.FIRST)} {last}",
                    "CTO",
                    demo.phone_for(20_000_001 + 2 * i) if two else "",
                    f"{rng.choice(demo.FIRST)} {last}" if two else "",
                    "CFO" if two else "",
                ]
            )
    return path


def baseline(path: Path) -> float:
    """Plain csv + phonenumbers + sqlite3 executemany of the same rows."""
    target = DATA / "baseline.sqlite3"
    target.unlink(missing_ok=True)
    db = sqlite3.connect(target)
    db.execute(
        "CREATE TABLE lead (id INTEGER PRIMARY KEY, campaign TEXT, phone TEXT, status TEXT, variables TEXT,"
        " UNIQUE (campaign, phone))"
    )
    db.execute(
        "CREATE TABLE contact (id INTEGER PRIMARY KEY, lead_id INTEGER, phone TEXT, variables TEXT, position INTEGER)"
    )
    started = time.perf_counter()

    def e164(text: str) -> str:
        n = phonenumbers.parse(text, None)
        if not phonenumbers.is_valid_number(n):
            raise ValueError(text)
        return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)

    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        leads, contacts = [], []
        for lead_id, row in enumerate(reader, start=1):
            values = json.dumps({"customer_name": row[3], "company": row[4], "last_interaction": row[5]})
            leads.append((lead_id, row[1], e164(row[0]), row[2] or "created", values))
            for pos, base in enumerate((6, 9)):
                if row[base]:
                    cv = json.dumps({"contact_name": row[base + 1], "role": row[base + 2]})
                    contacts.append((lead_id, e164(row[base]), cv, pos))
            if len(leads) >= 1000:
                db.executemany("INSERT INTO lead VALUES (?,?,?,?,?)", leads)
                db.executemany(
                    "INSERT INTO contact (lead_id, phone, variables, position) VALUES (?,?,?,?)", contacts
                )
                leads, contacts = [], []
        db.executemany("INSERT INTO lead VALUES (?,?,?,?,?)", leads)
        db.executemany("INSERT INTO contact (lead_id, phone, variables, position) VALUES (?,?,?,?)", contacts)
    db.commit()
    elapsed = time.perf_counter() - started
    db.close()
    target.unlink(missing_ok=True)
    return elapsed


def make_xlsx(csv_path: Path) -> Path:
    import openpyxl

    path = csv_path.with_suffix(".xlsx")
    if path.exists():
        return path
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            sheet.append(row)
    tmp = path.with_suffix(".partial")
    book.save(tmp)
    tmp.rename(path)
    return path


def bare_openpyxl(path: Path) -> float:
    """Read-only iteration of the sheet's values, the least any .xlsx import does."""
    import openpyxl

    started = time.perf_counter()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert rows > 1
    return time.perf_counter() - started


def run_xlsx_import(path: Path) -> float:
    Lead.objects.all().delete()
    started = time.perf_counter()
    with open(path, "rb") as f:
        result = importer.import_leads(f, ImportOptions(workers=WORKERS), filename=path.name)
    elapsed = time.perf_counter() - started
    assert not result.rejected and result.written, result.rejected[:3]
    wait_for_checkpoint()
    return elapsed


def validation_only(path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb") as f:
        rows = reader.read_rows(f)
        _, names = next(rows)
        parser = RowParser(columns.read_header(names), campaign=None, region=None)
        bad = 0
        for _line, _cells, _row, errors in parse_rows(rows, parser, workers=WORKERS):
            bad += bool(errors)
    assert not bad
    return time.perf_counter() - started


def run_import(path: Path, *, dry_run: bool) -> tuple[float, importer.ImportResult]:
    Lead.objects.all().delete()
    started = time.perf_counter()
    with open(path, "rb") as f:
        result = importer.import_leads(f, ImportOptions(dry_run=dry_run, workers=WORKERS))
    elapsed = time.perf_counter() - started
    assert not result.rejected, result.rejected[:3]
    wait_for_checkpoint()  # the import's WAL copy, off the clock but before the next run
    return elapsed, result


def one_import_in_subprocess(path: Path) -> None:
    Lead.objects.all().delete()
    with open(path, "rb") as f:
        result = importer.import_leads(f, ImportOptions(workers=WORKERS))
    peak = peak_rss_mb()
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "worker_mb": worker, "created": result.created}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="processes checking phones (0: none)")
    parser.add_argument("--subprocess-import", help=argparse.SUPPRESS)
    parser.add_argument("--xlsx", action="store_true", help="also the .xlsx import against bare openpyxl")
    parser.add_argument(
        "--import-only",
        action="store_true",
        help="only the baseline, the import and its peak memory (for 1M rows: skips validation and dry run)",
    )
    args = parser.parse_args()
    global WORKERS
    WORKERS = args.workers
    if args.subprocess_import:
        one_import_in_subprocess(Path(args.subprocess_import))
        return
    DATA.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    demo.ensure_demo_campaigns()
    assert Campaign.objects.filter(name="Spring demo follow-up").exists()
    path = make_csv(args.rows)
    n = args.rows
    figures: dict[str, list[float]] = {"baseline": [], "validation": [], "dry_run": [], "import": []}
    if args.xlsx:
        xlsx_path = make_xlsx(path)
        figures |= {"bare_openpyxl": [], "xlsx_import": []}
    for _ in range(args.repeat):
        figures["baseline"].append(baseline(path))
        if not args.import_only:
            figures["validation"].append(validation_only(path))
            figures["dry_run"].append(run_import(path, dry_run=True)[0])
        elapsed, result = run_import(path, dry_run=False)
        assert result.created == n and Lead.objects.count() == n
        figures["import"].append(elapsed)
        if args.xlsx:
            figures["bare_openpyxl"].append(bare_openpyxl(xlsx_path))
            figures["xlsx_import"].append(run_xlsx_import(xlsx_path))
    med = {k: statistics.median(v) for k, v in figures.items() if v}
    out = subprocess.run(
        [sys.executable, __file__, "--workers", str(WORKERS), "--subprocess-import", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    peak = mem["peak_mb"]
    print(f"rows: {n:,} (1–2 secondary contacts each), medians of {args.repeat}, {WORKERS} phone workers")
    for key in ("baseline", "validation", "dry_run", "import", "bare_openpyxl", "xlsx_import"):
        if key in med:
            print(f"  {key:<13} {med[key]:6.2f} s  {n / med[key]:>9,.0f} rows/s")
    ratio = med["baseline"] / med["import"]
    rate = n / med["import"]
    print(f"import rate        {rate:,.0f} rows/s   (target ≥ 10,000)  {'OK' if rate >= 10_000 else 'MISS'}")
    print(f"import / baseline  {ratio:.2f}×           (target ≥ 0.7×)   {'OK' if ratio >= 0.7 else 'MISS'}")
    if "dry_run" in med:
        dry = med["dry_run"] / med["validation"]
        print(f"dry run / valid.   {dry:.2f}×           (target ≤ 1.2×)   {'OK' if dry <= 1.2 else 'MISS'}")
    if "xlsx_import" in med:
        xr = med["bare_openpyxl"] / med["xlsx_import"]
        print(f"xlsx / openpyxl    {xr:.2f}×           (target ≥ 0.8×)   {'OK' if xr >= 0.8 else 'MISS'}")
    print(f"peak memory        {peak:.0f} MB          (target ≤ 150 MB) {'OK' if peak <= 150 else 'MISS'}")
    print(
        f"  (VmHWM of the importing process; a phone worker peaked at {mem['worker_mb']:.0f} MB RSS, pages shared with it included)"
    )


if __name__ == "__main__":
    main()
