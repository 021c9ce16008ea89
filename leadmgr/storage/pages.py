"""The ids of a first page of a sorted list, where the planner left alone would sort every match.

Measured at a million leads (``bench/ui_pages.py``; figures in ``bench/README.md``):

- ``walked_ids``: a filtered list sorted in an order an index walks over the whole table (the leads
  table by phone, attempts, next attempt, creation, campaign). Neither database can tell how many
  rows a text filter keeps (a variable's value containing a text), so both sorted every match:
  "company contains Northwind" sorted by phone read and sorted 107k leads (SQLite 330 ms,
  PostgreSQL 510 ms). Here the filter first runs on the first rows of the sort order only. When
  they hold the page's rows, those are the page: a match past them sorts after every one of them.
  When they do not, the filter keeps few rows there, and the page is the matches sorted, as the
  database plans it: that branch runs only then (PostgreSQL gates it with a one-time filter,
  SQLite with a LIMIT that is 0 otherwise: it skips the query under a LIMIT of 0). On PostgreSQL a
  list in id order narrowed by the search index walks again, further (``NEAR_ROWS``), before the
  sort: a common value missing from the newest rows (a large import without it) is found there.
- ``parent_scope_q``: a filter's condition "only rows of these parents" (the campaigns whose leads
  use a variable, for a filter on it), which a first page sorted by that parent applies to the
  parents it walks as well: "company contains Northwind" sorted by campaign walked the first
  campaign by name, none of whose leads has a company, then sorted every match (SQLite 241 ms,
  PostgreSQL 191 ms at 1M).
- ``grouped_ids`` (PostgreSQL): a list sorted by a parent row's column, then by its own id (the
  leads table by campaign name, newest first). SQLite walks the campaigns by name and each
  campaign's leads by id in one nested loop; PostgreSQL sorted the whole first campaign's leads
  (250k ids, 160 ms). A LATERAL subquery reads at most ``stop`` ids of each campaign (an index
  walk), and only those are sorted. The walk above reads its first rows the same way there.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import BooleanField, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.sql.datastructures import BaseTable
from django.db.models.sql.where import AND, WhereNode

from . import is_postgresql
from .search import is_narrowed, with_search_columns, without_candidates

# How many rows of the sort order a filtered page tests before it sorts the matches instead: at
# least WALKED_ROWS, and WALKED_PER_ROW for each row the page needs (the first page of 25 is found
# there when at least 1.3% of the rows match). Each row tested is a table row read: 2,000 cost
# SQLite 6 ms in id order, 12 ms in phone order at 1M, PostgreSQL 2 ms (it stops at the page's
# last match, too).
WALKED_ROWS = 2_000
WALKED_PER_ROW = 20
# PostgreSQL, a list in id order narrowed by the search index: when the first walk falls short,
# how many of the first ids a second walk tests (as the planner chooses: the id index walked with
# the text tested on each row, or the search index's matches among those ids) before every match
# is sorted. At 1.2M leads, 200k of the newest imported without "Orbit Fitness": "company contains
# Orbit Fitness" (107k matches) sorted them all, the page 181 ms; the second walk holds the page,
# 101 ms (medians of 9). A text that the index finds far more often than the filter keeps pays
# the second walk on top of the sort: "company contains Tanaka" (a customer's name) 176 -> 223 ms.
NEAR_ROWS = 250_000
# A walk found the page: its rows hold a stop-th one (the parameter is stop - 1).
_FULL = "EXISTS (SELECT 1 FROM {} LIMIT 1 OFFSET %s)"


class _ParentScope(RawSQL):
    """The parent ids outside which no row of a filter can be (``parent_scope_q``): SQL for inside
    ``IN (…)``, a subquery or a list of placeholders."""


def parent_scope_q(fk_name: str, parent_ids_sql: str, params=()) -> Q:
    """Rows whose parent (``fk_name``) is among ``parent_ids_sql``'s ids (a subquery, or a list of
    placeholders for ``params``): a condition like any other, which the first rows of a sort by
    that parent are also read within (``_head``)."""
    return Q(**{f"{fk_name}__in": _ParentScope(parent_ids_sql, tuple(params))})


def walked_ids(queryset: QuerySet, stop: int) -> RawSQL:
    """The ids of ``queryset``'s first ``stop`` rows in its order (which must end on a unique
    column), as a subquery for ``pk__in``; one query whichever branch answers.

    The filter runs on the table's first rows in that order as a derived table under the table's
    own name, so its SQL runs on them unchanged, without the search index's candidates (building
    them costs more than testing a few thousand rows).
    """
    walk = without_candidates(queryset).values("pk")[:stop]
    base = walk.query.get_initial_alias()
    head = _head(queryset, max(WALKED_ROWS, WALKED_PER_ROW * stop))
    walk.query.alias_map[base] = _Rows(*head, walk.query.alias_map[base])
    walk_sql, walk_params = _sql(walk)
    rest_sql, rest_params = _sql(queryset.values("pk"))
    full = _FULL.format("page_walk")
    if is_postgresql(connections[queryset.db]):
        near = _near(queryset)
        if near is not None:
            return _with_near(walk_sql, walk_params, near, rest_sql, rest_params, stop)
        # A one-time filter skips the branch; a constant LIMIT keeps the planner from walking the
        # sort index for matches the walk has just shown to be rare (2 s at 1M under CASE's LIMIT).
        rest = f"SELECT * FROM ({rest_sql} LIMIT %s) page_rest WHERE NOT {full}"
        rest_params = (*rest_params, stop, stop - 1)
    else:
        # SQLite runs the subquery before such a WHERE, but skips it under a LIMIT of 0.
        rest = f"SELECT * FROM ({rest_sql} LIMIT (CASE WHEN {full} THEN 0 ELSE %s END)) page_rest"
        rest_params = (*rest_params, stop - 1, stop)
    sql = f"WITH page_walk AS ({walk_sql}) SELECT * FROM page_walk WHERE {full} UNION ALL {rest}"
    return RawSQL(sql, (*walk_params, stop - 1, *rest_params))


def _near(queryset: QuerySet) -> QuerySet | None:
    """``queryset`` within its NEAR_ROWS first ids when it is sorted by id alone (newest or oldest
    first) and narrowed by the search index; None otherwise (other filters have statistics and
    indexes that the planner sorts their matches by well)."""
    order = queryset.query.order_by or queryset.model._meta.ordering
    pk = queryset.model._meta.pk
    if (
        not is_narrowed(queryset)
        or len(order) != 1
        or not isinstance(order[0], str)
        or order[0].lstrip("-") not in ("pk", pk.name)
    ):
        return None
    qn = connections[queryset.db].ops.quote_name
    table, column = qn(queryset.model._meta.db_table), qn(pk.column)
    if order[0].startswith("-"):
        bound = RawSQL(f"(SELECT max({column}) FROM {table}) - %s", (NEAR_ROWS,))
        return queryset.filter(pk__gt=bound)
    bound = RawSQL(f"(SELECT min({column}) FROM {table}) + %s", (NEAR_ROWS,))
    return queryset.filter(pk__lt=bound)


def _with_near(walk_sql, walk_params, near: QuerySet, rest_sql, rest_params, stop: int) -> RawSQL:
    """``walked_ids``' query with a second walk between the first and the matches' sort: the
    filter (narrowed by the search index's column, as the database plans it) on the rows among the
    first NEAR_ROWS ids, which runs only when the first walk falls short, the sort only when this
    one does too."""
    near_sql, near_params = _sql(near.values("pk"))
    walked, neared = _FULL.format("page_walk"), _FULL.format("page_near")
    sql = (
        f"WITH page_walk AS ({walk_sql}), "
        f"page_near AS (SELECT * FROM ({near_sql} LIMIT %s) near_rows WHERE NOT {walked}) "
        f"SELECT * FROM page_walk WHERE {walked} "
        f"UNION ALL SELECT * FROM page_near WHERE {neared} "
        f"UNION ALL SELECT * FROM ({rest_sql} LIMIT %s) page_rest WHERE NOT {walked} AND NOT {neared}"
    )
    params = (
        *walk_params,
        *near_params,
        stop,
        stop - 1,
        stop - 1,
        stop - 1,
        *rest_params,
        stop,
        stop - 1,
        stop - 1,
    )
    return RawSQL(sql, params)


def rows_with_ids(queryset: QuerySet, ids: RawSQL) -> QuerySet:
    """``queryset``'s rows with these ids, in its order, without testing its filter again: the ids
    come from it. (Left in, the filter made PostgreSQL walk the table again to meet the ids.) Its
    joins stay, so a filter must not join rows that repeat a row (none of the leads table's do).
    """
    rows = queryset.all()
    rows.query.where = WhereNode()
    return rows.filter(pk__in=ids)


def grouped_ids(queryset: QuerySet, start: int, stop: int) -> RawSQL | None:
    """The ids of ``queryset[start:stop]`` when it is sorted by a parent's column and then by its
    own id (``("campaign__name", "-id")``), on PostgreSQL; None elsewhere, or for another order."""
    grouping = _grouping(queryset)
    if grouping is None:
        return None
    each = _each_parent(queryset, grouping).values(page_id=F("pk"))[:stop]
    return RawSQL(*_lateral(queryset, grouping, each, "page_id", stop - start, start))


def _head(queryset: QuerySet, rows: int) -> tuple[str, tuple]:
    """The table's first ``rows`` rows (every column) in ``queryset``'s order; sorted by a parent
    that the filter scopes (``parent_scope_q``), the first rows of those parents only."""
    model = queryset.model
    grouping = _grouping(queryset)
    order = queryset.query.order_by or model._meta.ordering
    scope = _parent_scope(queryset, order)
    if grouping is None:
        head = with_search_columns(model._base_manager.using(queryset.db).order_by(*order))
        if scope is not None:
            # On the parent's own column, which the join walks (the leads' campaign_id would be
            # tested on every row of a parent outside the scope).
            fk, ids = scope
            qn = connections[queryset.db].ops.quote_name
            parent = fk.related_model._meta
            head = head.filter(
                RawSQL(
                    f"{qn(parent.db_table)}.{qn(parent.pk.column)} IN ({ids.sql})", ids.params, BooleanField()
                )
            )
        return _sql(head[:rows])
    each = _each_parent(with_search_columns(model._base_manager.using(queryset.db).all()), grouping)[:rows]
    return _lateral(queryset, grouping, each, model._meta.pk.column, rows, 0, scope=scope and scope[1])


def _parent_scope(queryset: QuerySet, order) -> tuple | None:
    """(the foreign key, its ``_ParentScope``) when ``queryset`` is sorted by that key's parent
    first (``<fk>__<field>``) and its filter scopes the parents; None otherwise."""
    first = order[0] if order else None
    if not isinstance(first, str) or "__" not in first:
        return None
    fk_name = first.lstrip("-").split("__", 1)[0]
    where = queryset.query.where
    if where.connector != AND or where.negated:
        return None
    for condition in where.children:
        ids = getattr(condition, "rhs", None)
        target = getattr(getattr(condition, "lhs", None), "target", None)
        if isinstance(ids, _ParentScope) and getattr(target, "name", None) == fk_name:
            return target, ids
    return None


def _each_parent(queryset: QuerySet, grouping) -> QuerySet:
    """``queryset``'s rows of the LATERAL subquery's current parent, in their own order."""
    fk, _, _, own = grouping
    qn = connections[queryset.db].ops.quote_name
    parent_pk = qn(fk.related_model._meta.pk.column)
    return queryset.filter(**{fk.attname: RawSQL(f"page_parent.{parent_pk}", ())}).order_by(own)


def _lateral(
    queryset: QuerySet, grouping, each: QuerySet, id_column: str, limit: int, offset: int, *, scope=None
):
    """SQL and parameters: ``each`` (a subquery over one parent's rows) for every parent (those
    ``scope`` names, a ``_ParentScope``, if given), sorted as ``queryset`` is, ``limit`` rows from
    ``offset`` (``page_lead.*``, or the ids alone)."""
    fk, column, descending, own = grouping
    qn = connections[queryset.db].ops.quote_name
    each_sql, each_params = _sql(each)
    selected = "page_lead.*" if id_column == queryset.model._meta.pk.column else f"page_lead.{qn(id_column)}"
    parents = ""
    if scope is not None:
        parents = f"WHERE page_parent.{qn(fk.related_model._meta.pk.column)} IN ({scope.sql}) "
    sql = (
        f"SELECT {selected} FROM {qn(fk.related_model._meta.db_table)} page_parent "
        f"CROSS JOIN LATERAL ({each_sql}) page_lead {parents}"
        f"ORDER BY page_parent.{qn(column)} {'DESC' if descending else 'ASC'}, "
        f"page_lead.{qn(id_column)} {'DESC' if own.startswith('-') else 'ASC'} LIMIT %s OFFSET %s"
    )
    return sql, (*each_params, *(scope.params if scope is not None else ()), limit, offset)


def _grouping(queryset: QuerySet):
    """On PostgreSQL, (the foreign key, the parent's column, descending, the own order) of an order
    by ``<fk>__<field>`` then ``[-]id``; None for any other order, and on SQLite."""
    order = queryset.query.order_by
    if not is_postgresql(connections[queryset.db]) or len(order) != 2:
        return None
    parent_term, own = order
    if not isinstance(parent_term, str) or not isinstance(own, str):
        return None
    fk_name, _, field_name = parent_term.lstrip("-").partition("__")
    if own.lstrip("-") not in ("pk", queryset.model._meta.pk.name) or not field_name or "__" in field_name:
        return None
    try:
        fk = queryset.model._meta.get_field(fk_name)
        field = fk.related_model._meta.get_field(field_name) if fk.many_to_one else None
    except FieldDoesNotExist:
        return None
    if field is None or field.null or fk.null:  # a NULL would drop its rows or move them
        return None
    return fk, field.column, parent_term.startswith("-"), own


def _sql(queryset: QuerySet) -> tuple[str, tuple]:
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    return sql, tuple(params)


class _Rows(BaseTable):
    """A query's base table replaced by rows of it: ``(SELECT … LIMIT n) "leads_lead"``."""

    def __init__(self, sql: str, params: tuple, table: BaseTable) -> None:
        super().__init__(table.table_name, table.table_alias)
        self.sql, self.params = sql, params

    def as_sql(self, compiler, connection):
        return f"({self.sql}) {compiler.quote_name(self.table_alias)}", list(self.params)
