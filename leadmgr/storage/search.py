"""The plumbing of the free-text search index, per database (``leads.textsearch`` says what it is for).

**PostgreSQL**: pg_trgm GIN indexes on the very columns the substring test compares, which the
planner uses for the test itself: ``phone``, and ``search_text``, the variables' text upper-cased,
a generated column (``UPPER(variables::text)``, STORED). Computed per row, that expression was 60%
of the time a search spent on each lead it read (200k leads: 220-268 ms, the column 49-52 ms),
both when it walks the newest leads and when it re-checks the index's candidates. Like the
indexes, the column is derived data that ``ensure`` adds after a migrate; Django's model does not
know it (a migration that changes the type of ``variables`` must drop it first: ``drop_derived``).

**SQLite**: an FTS5 table, ``leads_lead_search``, with the trigram tokenizer over each lead's phone
and its variables' names and values (``SEARCH_TEXT``). It stores no text and no positions
(``content=''``, ``detail=none``), so a text is looked up as the AND of a few of its trigrams:
every lead that contains the text contains those. It is written in bulk, never row by row from a
trigger: FTS5 flushes its buffer at every statement a trigger runs, which costs 55 µs a lead (an
import at half speed), where one ``INSERT … SELECT`` costs 4. So:

- ids only grow (AUTOINCREMENT), and the index covers the leads up to ``indexed_through``; newer
  leads are pending and always offered as candidates;
- a lead whose phone or variables change is noted by a trigger in ``leads_lead_search_changed``
  with the text the index holds for it, and offered too (a trigger on insert would tax every
  import row; a lead given an old id by hand, from a fixture or a restore, needs ``rebuild``);
- ``catch_up`` indexes what is pending in two statements; the writers of many leads call it (the
  CSV import, the generator, the lead form), and so does the runner on every pass;
- deleting leads does not touch the index: a deleted lead's entries name an id that no lead will
  have again, and ``rebuild`` (``manage.py rebuild_search_index``) drops them.

The index is derived data, so ``ensure`` installs it after every ``migrate`` (and ``flush``)
rather than a migration: a later migration that rebuilds the leads table on SQLite drops the
table's triggers, and ``ensure`` puts them back and refills the index.
"""

from __future__ import annotations

import json

from django.db import connections, transaction
from django.db.models import BooleanField, F, Func, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.lookups import Lookup
from django.db.models.sql.where import AND, WhereNode

from . import is_postgresql, is_sqlite

LEADS = "leads_lead"
TABLE = "leads_lead_search"
STATE = "leads_lead_search_state"
CHANGED = "leads_lead_search_changed"
# ``manage.py rebuild_search_index``'s help.
REBUILD_HELP = (
    "Refill the free-text search index from the leads. Searches stay right without it; run it "
    "after deleting many leads (SQLite keeps their entries until then) or restoring a backup."
)
# How many of a text's trigrams a lookup ANDs: beyond five, each one costs more than it narrows.
MAX_TRIGRAMS = 5
# A variable's name ANDed to a text looked up in its value: one of its trigrams, the middle one (at
# 1M, "company contains Tanaka": 91k -> 68k candidates, the query 153 -> 124 ms, medians of 15
# interleaved; with three of them 136 ms: each costs as much to intersect as it spares).
MAX_WITH_TRIGRAMS = 1

# One lead's searchable text: its phone, then each variable's name and value. JSON true, false and
# null are spelled as in the JSON the substring test reads (json_each gives 1, 0 and NULL).
SEARCH_TEXT = (
    "{row}.phone || ' ' || (SELECT coalesce(group_concat(key || ' ' || CASE WHEN type IN "
    "('true', 'false', 'null') THEN type ELSE value END, ' '), '') FROM json_each({row}.variables))"
)
_MARK = f"(SELECT indexed_through FROM {STATE})"

_FTS_TABLES = {
    TABLE: f"CREATE VIRTUAL TABLE {TABLE} USING fts5(text, content='', columnsize=0, detail=none, "
    "tokenize='trigram case_sensitive 0')",
    STATE: f"CREATE TABLE {STATE} (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_through INTEGER NOT NULL)",
    # phone and variables: what the index holds for the lead (NULL: nothing yet).
    CHANGED: f"CREATE TABLE {CHANGED} (id INTEGER PRIMARY KEY, phone TEXT, variables TEXT)",
}
_FTS_TRIGGERS = {
    f"{TABLE}_note_change": (
        f"CREATE TRIGGER {TABLE}_note_change AFTER UPDATE OF phone, variables ON {LEADS} "
        f"WHEN (old.phone IS NOT new.phone OR old.variables IS NOT new.variables) AND old.id <= {_MARK} "
        f"BEGIN INSERT OR IGNORE INTO {CHANGED} VALUES (old.id, old.phone, old.variables); END"
    ),
}
SEARCH_COLUMN = "search_text"  # PostgreSQL: UPPER(variables::text), generated and stored
_SEARCH_COLUMN_SQL = (
    f"ALTER TABLE {LEADS} ADD COLUMN {SEARCH_COLUMN} text GENERATED ALWAYS AS (UPPER(variables::text)) STORED"
)
TRIGRAM_INDEXES = {
    # The variables' substring test: "leads_lead"."search_text" LIKE UPPER(%s) (``_TextContains``)
    "lead_search_variables": f"CREATE INDEX lead_search_variables ON {LEADS} USING gin "
    f"({SEARCH_COLUMN} gin_trgm_ops)",
    # Django's contains: "leads_lead"."phone"::text LIKE %s
    "lead_search_phone": f"CREATE INDEX lead_search_phone ON {LEADS} USING gin ((phone::text) gin_trgm_ops)",
}


def candidates_q(*texts: str, using: str = "default", with_text: str = "") -> Q:
    """Leads that may contain any of ``texts`` (a superset), or no narrowing where the index can't;
    with ``with_text``, only those that may contain it as well (its trigrams ANDed, at most
    MAX_WITH_TRIGRAMS of them).

    The index can't look up a text shorter than three characters, and PostgreSQL needs no help.
    """
    if not is_sqlite(connections[using]) or not texts or any(len(t) < 3 for t in texts):
        return Q()
    match = " OR ".join(f"({_trigram_query(text)})" for text in texts)
    if len(with_text) >= 3:
        match = f"({match}) AND ({_trigram_query(with_text, MAX_WITH_TRIGRAMS)})"
    return Q(
        pk__in=_Candidates(
            f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s "
            f"UNION ALL SELECT id FROM {CHANGED} "
            f"UNION ALL SELECT id FROM {LEADS} WHERE id > {_MARK}",
            [match],
        )
    )


def json_candidates_q(text: str, using: str = "default", *, key: str = "") -> Q:
    """Leads whose variables (any name or value) may contain ``text``: what narrows a test on one
    variable (a name, or a name's value containing a text), a superset, ANDed with that test.

    SQLite: ``candidates_q``; with ``key``, ANDed with one of the name's trigrams, which leaves out
    the leads without the name ("company contains Tanaka", where Tanaka is a customer's name: 91k
    leads at 1M, 68k with the name; the query 153 -> 124 ms).

    PostgreSQL: the variables' whole text containing ``text`` as jsonb writes it (quotes and
    backslashes escaped, other characters as they are), which the trigram index
    ``lead_search_variables`` answers: the test on one variable has no index, and no statistics
    either (the planner takes 0.5% of the rows for it), so alone it is a scan of every lead when few
    match (1–3 s at 1M). The name is not looked up there: its trigrams are in nearly every lead, and
    reading their lists in the index cost more than the rows it spared (at 1M, "company contains
    Tanaka" 140 -> 110 ms, "Orbit Fitness" 160 -> 125 ms without it, medians of 7 interleaved).
    """
    connection = connections[using]
    if not is_postgresql(connection):
        return candidates_q(text, using=using, with_text=key)
    if len(text) < 3:
        return Q()
    spelling = connection.ops.prep_for_like_query(json.dumps(text, ensure_ascii=False)[1:-1])
    return Q(_JsonTextContains(F("variables"), pattern=f"%{spelling}%"))


def variables_text_contains_q(text: str, using: str = "default") -> Q:
    """Leads whose variables' JSON text contains ``text``, ignoring case: Django's ``icontains`` on
    the column, or on PostgreSQL the same test on ``search_text``, the text already upper-cased."""
    connection = connections[using]
    if not is_postgresql(connection):
        return Q(variables__icontains=text)
    return Q(_TextContains(F("variables"), pattern=f"%{connection.ops.prep_for_like_query(text)}%"))


def with_search_columns(queryset: QuerySet) -> QuerySet:
    """``queryset`` selecting the stored search column too (PostgreSQL), for a query whose rows a
    filter then reads as a derived table under the table's own name (``storage.pages``)."""
    connection = connections[queryset.db]
    if not is_postgresql(connection) or queryset.model._meta.db_table != LEADS:
        return queryset  # the column is the leads table's only
    qn = connection.ops.quote_name
    return queryset.annotate(**{SEARCH_COLUMN: RawSQL(f"{qn(LEADS)}.{qn(SEARCH_COLUMN)}", ())})


class _Narrowing:
    """A condition that only narrows: ANDed with the test it narrows and true for every row that
    passes it, so taking it out of a filter changes none of the filter's rows."""


class _Candidates(_Narrowing, RawSQL):
    """The ids ``candidates_q`` offers."""


class _TextContains(Func):
    """PostgreSQL: the variables' text contains ``pattern`` (a LIKE pattern), ignoring case, read
    from the column the trigram index holds (``search_text``: ``UPPER(variables::text)``), of the
    same table (alias) as the ``variables`` it is given."""

    output_field = BooleanField()

    def __init__(self, expression, *, pattern: str) -> None:
        super().__init__(expression)
        self.pattern = pattern

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        table, dot, _ = column.rpartition(".")
        return f"{table}{dot}{connection.ops.quote_name(SEARCH_COLUMN)} LIKE UPPER(%s)", (
            *params,
            self.pattern,
        )


class _JsonTextContains(_Narrowing, _TextContains):
    """The narrowing of a test on one variable (``json_candidates_q``)."""


def without_candidates(queryset: QuerySet) -> QuerySet:
    """``queryset`` with the search index's narrowing taken out: the same rows, tested one by one.

    For a query that reads a few thousand rows anyway (the first rows of a sort index), where
    building the candidate set (every lead containing a common text: 100k ids, 20–40 ms at 1M)
    costs more than the test it would spare.
    """
    queryset = queryset.all()
    queryset.query.where = _strip_candidates(queryset.query.where)
    return queryset


def is_narrowed(queryset: QuerySet) -> bool:
    """Whether ``queryset``'s filter holds a narrowing by the search index (a text test that the
    planner has no statistics for)."""
    return _holds_narrowing(queryset.query.where)


def _holds_narrowing(node: WhereNode) -> bool:
    return any(
        _holds_narrowing(child) if isinstance(child, WhereNode) else _narrows(child)
        for child in node.children
    )


def _strip_candidates(node: WhereNode) -> WhereNode:
    children = []
    for child in node.children:
        if isinstance(child, WhereNode):
            child = _strip_candidates(child)
        elif node.connector == AND and _narrows(child):
            continue  # ANDed with the test it narrows (never alone in a filter)
        children.append(child)
    return node.create(children, node.connector, node.negated)


def _narrows(condition) -> bool:
    """A narrowing as the filter holds it: ``pk IN (candidates)``, or ``(text contains …) = true``."""
    parts = (condition, getattr(condition, "lhs", None), getattr(condition, "rhs", None))
    return isinstance(condition, Lookup) and any(isinstance(part, _Narrowing) for part in parts)


def _trigram_query(text: str, most: int = MAX_TRIGRAMS) -> str:
    """An FTS5 query for "contains all of up to ``most`` of ``text``'s trigrams", spread out."""
    grams = list(dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2)))
    if most == 1:
        grams = grams[len(grams) // 2 : len(grams) // 2 + 1]
    elif len(grams) > most:
        step = (len(grams) - 1) / (most - 1)
        grams = [grams[round(k * step)] for k in range(most)]
    return " AND ".join('"{}"'.format(g.replace('"', '""')) for g in grams)


def catch_up(using: str = "default") -> None:
    """Index the leads added or changed since the last call (SQLite; nothing to do elsewhere)."""
    connection = connections[using]
    if not is_sqlite(connection):
        return
    with transaction.atomic(using), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT indexed_through, (SELECT max(id) FROM {LEADS}), EXISTS (SELECT 1 FROM {CHANGED}) "
            f"FROM {STATE}"
        )
        mark, newest, changed = cursor.fetchone()
        if not changed and (newest or 0) <= mark:
            return
        if changed:
            cursor.execute(
                f"INSERT INTO {TABLE}({TABLE}, rowid, text) SELECT 'delete', id, "
                f"{SEARCH_TEXT.format(row=CHANGED)} FROM {CHANGED} WHERE phone IS NOT NULL"
            )
        cursor.execute(
            f"INSERT INTO {TABLE}(rowid, text) SELECT id, {SEARCH_TEXT.format(row=LEADS)} FROM {LEADS} "
            f"WHERE id IN (SELECT id FROM {CHANGED}) OR id > %s ORDER BY id",
            [mark],
        )
        if changed:
            cursor.execute(f"DELETE FROM {CHANGED}")
        cursor.execute(f"UPDATE {STATE} SET indexed_through = %s", [max(mark, newest or 0)])


def forget(lead_ids, using: str = "default") -> None:
    """Take leads out of the index before they are deleted for good (an erasure): unlike a bulk
    delete's, their entries must not wait for a ``rebuild``. Call it in the deleting transaction."""
    connection = connections[using]
    ids = list(lead_ids)
    if not is_sqlite(connection) or not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE}({TABLE}, rowid, text) SELECT 'delete', id, {SEARCH_TEXT.format(row=CHANGED)} "
            f"FROM {CHANGED} WHERE phone IS NOT NULL AND id IN ({marks})",
            ids,
        )
        cursor.execute(
            f"INSERT INTO {TABLE}({TABLE}, rowid, text) SELECT 'delete', id, {SEARCH_TEXT.format(row=LEADS)} "
            f"FROM {LEADS} WHERE id IN ({marks}) AND id NOT IN (SELECT id FROM {CHANGED}) AND id <= {_MARK}",
            ids,
        )
        cursor.execute(f"DELETE FROM {CHANGED} WHERE id IN ({marks})", ids)


def ensure(using: str = "default", verbosity: int = 1) -> None:
    """Install the index where it is missing (filling it from the leads), and empty a stale one."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if LEADS not in connection.introspection.table_names(cursor):
            return  # migrated backwards past the leads table
    if is_sqlite(connection):
        _ensure_fts(connection, verbosity)
    elif is_postgresql(connection):
        _ensure_trigram_indexes(connection, verbosity)


def rebuild(using: str = "default") -> None:
    """Refill the index from the leads (dropping deleted leads' entries)."""
    connection = connections[using]
    if is_sqlite(connection):
        with transaction.atomic(using), connection.cursor() as cursor:
            _refill_fts(cursor)
            cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")
    elif is_postgresql(connection):
        with connection.cursor() as cursor:
            for name in TRIGRAM_INDEXES:
                cursor.execute(f"REINDEX INDEX {name}")


def _ensure_fts(connection, verbosity: int) -> None:
    with transaction.atomic(connection.alias), connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE name IN (%s, %s, %s) OR (type = 'trigger' AND tbl_name = %s)",
            [TABLE, STATE, CHANGED, LEADS],
        )
        present = {row[0] for row in cursor.fetchall()}
        for name in present - set(_FTS_TABLES) - set(_FTS_TRIGGERS):
            if name.startswith(TABLE):  # a trigger of an earlier shape of the index
                cursor.execute(f"DROP TRIGGER {name}")
        for name, sql in (_FTS_TABLES | _FTS_TRIGGERS).items():
            if name not in present:
                cursor.execute(sql)
        if set(_FTS_TABLES | _FTS_TRIGGERS) - present:
            if verbosity:
                print(f"  Filling the search index ({TABLE}) from the leads…")
            _refill_fts(cursor)
            return
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {LEADS})")
        if not cursor.fetchone()[0]:
            _refill_fts(cursor)  # after a flush: the leads are gone, their entries must go too


def _refill_fts(cursor) -> None:
    cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('delete-all')")
    cursor.execute(f"DELETE FROM {CHANGED}")
    cursor.execute(f"SELECT max(id) FROM {LEADS}")
    newest = cursor.fetchone()[0] or 0
    cursor.execute(
        f"INSERT INTO {TABLE}(rowid, text) SELECT id, {SEARCH_TEXT.format(row=LEADS)} FROM {LEADS}"
    )
    cursor.execute(f"INSERT OR REPLACE INTO {STATE} VALUES (1, %s)", [newest])


def drop_derived(using: str = "default") -> None:
    """Drop PostgreSQL's stored search column with its index (the next ``ensure`` adds them back):
    what a migration that changes the type of ``variables`` runs first."""
    connection = connections[using]
    if is_postgresql(connection):
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {LEADS} DROP COLUMN IF EXISTS {SEARCH_COLUMN}")


def _ensure_trigram_indexes(connection, verbosity: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            [LEADS, SEARCH_COLUMN],
        )
        if cursor.fetchone() is None:
            if verbosity:
                print(
                    f"  Adding the stored search column {LEADS}.{SEARCH_COLUMN} (a minute per million leads)…"
                )
            cursor.execute(_SEARCH_COLUMN_SQL)
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [LEADS])
        present = dict(cursor.fetchall())
        if SEARCH_COLUMN not in present.get("lead_search_variables", SEARCH_COLUMN):
            cursor.execute("DROP INDEX lead_search_variables")  # on the expression, as it was
            del present["lead_search_variables"]
        for name, sql in TRIGRAM_INDEXES.items():
            if name not in present:
                if verbosity:
                    print(f"  Building the search index {name}…")
                cursor.execute(sql)
