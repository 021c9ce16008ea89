"""The index behind free-text search: the search bar, the variable filters, the admin's search.

What matches is decided by ``selectors``: a case-insensitive substring of the phone or of the
variables (names and values). Tested row by row, that is a scan, 600 ms at a million leads, so an
index first narrows the rows to those that can match, and the substring test runs on those only.
The index only ever offers too many rows, never too few, so a stale index is slow, not wrong.

How each database keeps the index (pg_trgm indexes, or an FTS5 table written in bulk) is storage's
business: ``leadmgr.storage.search``. The leads' writers call ``catch_up`` after writing many
leads; an erasure calls ``forget``; ``ensure`` runs after every migrate; ``rebuild`` drops the
entries of deleted leads (``manage.py rebuild_search_index``).
"""

from __future__ import annotations

from leadmgr.storage.search import (
    CHANGED,
    TABLE,
    candidates_q,
    catch_up,
    drop_derived,
    ensure,
    forget,
    json_candidates_q,
    rebuild,
    variables_text_contains_q,
    without_candidates,
)

__all__ = [
    "CHANGED",
    "TABLE",
    "candidates_q",
    "catch_up",
    "drop_derived",
    "ensure",
    "forget",
    "json_candidates_q",
    "rebuild",
    "variables_text_contains_q",
    "without_candidates",
]
