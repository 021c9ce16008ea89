"""Pagination that never counts a million rows to draw one page."""

from __future__ import annotations

from django.core.paginator import EmptyPage, Paginator
from django.db import connections
from django.db.models import F, QuerySet
from django.utils.functional import cached_property
from django_tables2.paginators import LazyPaginator
from django_tables2.rows import BoundRows

from leadmgr import storage
from leadmgr.storage import pages

# The largest LIMIT or OFFSET SQLite and PostgreSQL take (a signed 64-bit integer): a page number
# from the URL whose rows would start past it cannot hold a row.
MAX_SQL_INT = 2**63 - 1
# A page whose rows end within the first FIRST_ROWS of its order is read the way its order allows
# (``storage.pages``): walking a sort index, or campaign by campaign; a deeper one by a deferred join.
FIRST_ROWS = 1_000


class CappedCountPaginator(Paginator):
    """Counts at most ``cap`` rows (``SELECT COUNT(*) FROM (… LIMIT cap)``).

    Past the cap the count reads as the cap, so the last pages of a huge result are reached by
    narrowing the filter rather than by paging; the first ``cap`` rows page as usual.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "query"):
            return object_list.order_by()[: self.cap].count()
        return min(len(object_list), self.cap)

    @property
    def is_capped(self) -> bool:
        return self.count >= self.cap


class _DeferredJoinSlicer:
    """Slices a queryset, or django-tables2's rows over one, so that a deep OFFSET walks only the
    ordering index.

    ``rows[a:b]`` reads ``qs.filter(pk__in=qs.values("pk")[a:b])``: the inner query skips rows on
    the (covering) index without reading them or computing the outer query's annotations, and the
    outer query reads only the page's rows. Still one query. (PostgreSQL computes the select list
    of every row an OFFSET skips, the table's correlated contact count included; SQLite does not,
    but reads each skipped row's table page unless the index covers the sort.)
    """

    def __init__(self, rows, deep_offset: int) -> None:
        self.rows = rows
        self.deep_offset = deep_offset

    def __getitem__(self, key):
        if not isinstance(key, slice):
            return self.rows[key]
        queryset = _queryset_of(self.rows)  # read now: the table orders its data before paging
        page = self._first_rows(queryset, key.start or 0, key.stop)
        if page is None:
            if (key.start or 0) < self.deep_offset and not _sorts_by_expression(queryset):
                return self.rows[key]
            page = queryset.filter(pk__in=queryset.values("pk")[key])
        if isinstance(self.rows, BoundRows):
            return BoundRows(page, self.rows.table, self.rows.pinned_data)
        return page

    def __len__(self) -> int:  # Paginator never needs it here (LazyPaginator does not count)
        raise TypeError("not counted")

    def _first_rows(self, queryset: QuerySet | None, start: int, stop: int | None) -> QuerySet | None:
        """A first page whose order ``storage.pages`` reads without sorting every row, or None.

        Filtered and sorted by a column whose index walks the whole table (the table's
        ``walked_orders``): the order's first rows, the filter tested on each, unless they do not
        hold the page. Every lead sorted by campaign on PostgreSQL: campaign by campaign.
        """
        if queryset is None or stop is None or stop > FIRST_ROWS or queryset.query.is_empty():
            return None
        if not queryset.query.has_filters():
            ids = pages.grouped_ids(queryset, start, stop)
            return None if ids is None else queryset.filter(pk__in=ids)
        table = getattr(self.rows, "table", None)
        order = getattr(table, "order_by", None)
        if not order or order[0].bare not in getattr(table, "walked_orders", ()):
            return None
        return pages.rows_with_ids(queryset, pages.walked_ids(queryset, stop))[start:stop]


def _sorts_by_expression(queryset: QuerySet | None) -> bool:
    """Whether the order starts with an expression rather than a column: an index that a filter
    cannot walk in that order (the leads table's next attempt, empty last, under a campaign and
    status filter) leaves a sort, and a sort is cheaper over the ids than over whole rows with
    their per-row subqueries (SQLite, page 1 at 1M: 441 -> 242 ms)."""
    if queryset is None or not queryset.query.order_by:
        return False
    first = queryset.query.order_by[0]
    return not isinstance(first, str) and not isinstance(getattr(first, "expression", None), F)


def _queryset_of(rows) -> QuerySet | None:
    """The queryset behind ``rows``: a queryset itself, or django-tables2's ``table.rows``."""
    if isinstance(rows, BoundRows):
        rows = getattr(rows.data, "data", None)  # BoundRows → TableQuerysetData → QuerySet
    return rows if isinstance(rows, QuerySet) else None


class DeferredJoinLazyPaginator(LazyPaginator):
    """django-tables2's LazyPaginator (no COUNT), with pages served by a deferred join.

    On SQLite from ``deep_offset`` on: shallower pages are cheap as they are, and a search's
    candidate filter plans worse inside the subquery (the search bar at 1M: 53 → 231 ms). On
    PostgreSQL every page: a sort carries each sorted row's whole select list (the contact
    count, the campaign), so sorting ids first pays (at 1M, campaign + statuses by next attempt
    179 → 91 ms, by attempts 710 → 152 ms).

    ``per_page`` comes from the URL, so it is kept between 1 and ``max_per_page``; so does the page
    number: one past the end (a bookmark after a delete, or any number at all) serves the last page
    and notes the number asked for in ``past_end``, for the view to say so.
    """

    max_per_page = 200
    deep_offset = 500

    def __init__(self, object_list, per_page, **kwargs):
        per_page = max(1, min(int(per_page), self.max_per_page))
        queryset = _queryset_of(object_list)
        self._all_rows = object_list
        self.past_end: int | None = None
        if queryset is not None:
            every_page = storage.deferred_join_on_every_page(connections[queryset.db])
            object_list = _DeferredJoinSlicer(object_list, 0 if every_page else self.deep_offset)
        super().__init__(object_list, per_page, **kwargs)

    def page(self, number):
        number = self.validate_number(number or 1)
        if (number - 1) * self.per_page + self.per_page + self.orphans + 1 > MAX_SQL_INT:
            return self._last_page(number)
        try:
            return super().page(number)
        except EmptyPage:
            return self._last_page(number)

    def _last_page(self, asked: int):
        """The last page, for a page number past the end: counts the rows before ``asked``'s start
        (at most), so the cost is that of reading the page asked for."""
        start = min((asked - 1) * self.per_page, MAX_SQL_INT)
        queryset = _queryset_of(self._all_rows)
        rows = self._all_rows
        n = queryset.order_by()[:start].count() if queryset is not None else min(len(rows), start)
        last = max(1, -(-max(1, n - self.orphans) // self.per_page))  # as Paginator.num_pages
        self.past_end = asked
        return super().page(last)
