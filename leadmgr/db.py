"""Small database helpers the ORM lacks."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

UPDATE_CHUNK = 500


def update_rows(model, fields: Sequence[str], rows: Sequence[tuple]) -> int:
    """Set per-row values: ``rows`` are (pk, value for each of ``fields``) tuples.

    One ``WITH v AS (VALUES …) UPDATE … FROM v`` statement per chunk (PostgreSQL, SQLite ≥ 3.33),
    where ``bulk_update``'s CASE WHEN per row costs about 1 ms a row to build in Python.
    """
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    pk_column = qn(model._meta.pk.column)
    columns = [model._meta.get_field(name) for name in fields]
    names = ", ".join(["pk", *(f"c{i}" for i in range(len(columns)))])
    sets = ", ".join(f"{qn(col.column)} = v.c{i}" for i, col in enumerate(columns))
    placeholder = "(" + ", ".join(["%s"] * (1 + len(columns))) + ")"
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPDATE_CHUNK):
            chunk = rows[start : start + UPDATE_CHUNK]
            params: list = []
            for pk, *values in chunk:
                params.append(pk)
                params.extend(
                    col.get_db_prep_save(value, connection)
                    for col, value in zip(columns, values, strict=True)
                )
            cursor.execute(
                f"WITH v({names}) AS (VALUES {', '.join([placeholder] * len(chunk))}) "
                f"UPDATE {table} SET {sets} FROM v WHERE {table}.{pk_column} = v.pk",
                params,
            )
            changed += cursor.rowcount
    return changed
