"""Fill the configured database with N generated leads (0–2 secondary contacts each).

    .venv/bin/python bench/generate.py 1000000            # into DATABASE_URL (default: db.sqlite3)
    DATABASE_URL=sqlite:///bench/1m.sqlite3 .venv/bin/python bench/generate.py 1000000

Migrates first, then appends; prints the rate. Used by the other benchmarks in bench/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

_harness.setup_django()

from django.core.management import call_command  # noqa: E402

from leads import demo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("leads", type=int, help="how many leads to add")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()

    def progress(done: int) -> None:
        if done % 100_000 == 0 or done == args.leads:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:>9,} leads  {rate:,.0f} leads/s", file=sys.stderr)

    n = demo.bulk_generate(args.leads, seed=args.seed, progress=progress)
    elapsed = time.perf_counter() - started
    print(f"generated {n:,} leads in {elapsed:.1f} s ({n / elapsed:,.0f} leads/s)")


if __name__ == "__main__":
    main()
