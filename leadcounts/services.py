"""Writes of the lead counts: folding PostgreSQL's deltas (the runner, each pass) and a full recount."""

from __future__ import annotations

from django.db import connection, transaction

from . import sql


def fold_deltas() -> None:
    """Fold the committed deltas into the counts (PostgreSQL; SQLite's triggers update in place)."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic():
        sql.run([sql.FOLD])


def recount() -> None:
    """Count every campaign's leads afresh (a repair; the triggers make it needless in normal use)."""
    with transaction.atomic():
        sql.run(sql.RECOUNT)
