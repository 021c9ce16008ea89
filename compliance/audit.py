"""The export audit: every CSV export of leads is recorded (who, when, the filter, the columns, the
rows), whatever door it leaves by: the web export, ``export_leads``, the API, the admin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence

from django.utils import timezone

from .models import ExportRecord


def _plain(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "pk"):
        return value.pk
    return value


def record_export(
    user, filters: Mapping, columns: Sequence[str] | None, rows: int, channel: str
) -> ExportRecord:
    """Record one export. ``filters``: what selected the leads (empty values dropped);
    ``columns``: the columns chosen (None or empty: every column); ``channel``: web, command, api, admin."""
    return ExportRecord.objects.create(
        user=user if getattr(user, "pk", None) else None,
        at=timezone.now(),
        channel=channel,
        filters={k: _plain(v) for k, v in filters.items() if v not in (None, "", [], ())},
        columns=list(columns or []),
        rows=rows,
    )


def audited(
    chunks: Iterable[str], *, user, filters: Mapping, columns: Sequence[str] | None, channel: str
) -> Iterator[str]:
    """Pass an export's CSV text through, then record it with the rows sent (the header aside).

    Recorded also when the download stops half-way (the client went away): what left is counted.
    Rows are counted by their CRLF ends; a cell holding a CRLF of its own counts one more.
    """
    lines = 0
    try:
        for chunk in chunks:
            lines += chunk.count("\r\n")
            yield chunk
    finally:
        record_export(user, filters, columns, max(lines - 1, 0), channel)
