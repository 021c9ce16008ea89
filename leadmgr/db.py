"""Moved to ``leadmgr.storage``; these names stay importable from here only until the modules that
still import them (the CSV import and the runner, reshaped on their own) import storage instead."""

from __future__ import annotations

from leadmgr.storage import nulls_sort_first, storable_text
from leadmgr.storage.bulk import (
    checkpoint_in_background,
    refresh_statistics,
    update_rows,
    wait_for_checkpoint,
)

__all__ = [
    "checkpoint_in_background",
    "nulls_sort_first",
    "refresh_statistics",
    "storable_text",
    "update_rows",
    "wait_for_checkpoint",
]
