"""Datetime columns read as ISO 8601 text, the fastest way each database allows (the export's).

SQLite keeps datetimes as text, 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: reading that text as it is
and reshaping it costs a fraction of parsing it into datetime objects only to format them again
(which would cost more than the rest of an exported row). Other databases hand back aware
datetimes, written in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

IsoText = Callable[[object], str]


def iso_columns(queryset: QuerySet, fields: Sequence[str]) -> tuple[QuerySet, list[str], IsoText]:
    """How to read the datetime ``fields`` of ``queryset`` for ISO 8601 text: the queryset to read
    (annotated where the stored text is read directly), the names to read in place of ``fields``,
    and the function that turns each value read into ISO 8601 text ('' for NULL)."""
    if connection.vendor != "sqlite":
        return queryset, list(fields), iso_datetime
    names = [f"_text_{name}" for name in fields]
    annotations = {alias: Cast(name, TextField()) for alias, name in zip(names, fields, strict=True)}
    return queryset.annotate(**annotations), names, iso_sqlite


def iso_sqlite(value: str | None) -> str:
    """SQLite keeps datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: write them as ISO 8601."""
    if not value:
        return ""
    return f"{value[:10]}T{value[11:]}+00:00"


def iso_datetime(value: dt.datetime | None) -> str:
    """An aware datetime as ISO 8601 in UTC."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).isoformat()
