"""Pagination that never counts a million rows to draw one page."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django_tables2.paginators import LazyPaginator


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
    """Slices a queryset so that a deep OFFSET walks only the ordering index.

    ``qs[a:b]`` becomes ``qs.filter(pk__in=qs.values("pk")[a:b])``: the inner query skips rows on
    the (covering) index without reading them or computing the outer query's annotations, and the
    outer query reads only the page's rows. Still one query.
    """

    threshold = 500  # shallower offsets are cheap as they are

    def __init__(self, queryset) -> None:
        self.queryset = queryset

    def __getitem__(self, key):
        if isinstance(key, slice) and (key.start or 0) >= self.threshold:
            return self.queryset.filter(pk__in=self.queryset.values("pk")[key])
        return self.queryset[key]

    def __len__(self) -> int:  # Paginator never needs it here (LazyPaginator does not count)
        raise TypeError("not counted")


class DeferredJoinLazyPaginator(LazyPaginator):
    """django-tables2's LazyPaginator (no COUNT), with deep pages served by a deferred join.

    ``per_page`` comes from the URL, so it is kept between 1 and ``max_per_page``.
    """

    max_per_page = 200

    def __init__(self, object_list, per_page, **kwargs):
        per_page = max(1, min(int(per_page), self.max_per_page))
        queryset = getattr(object_list, "data", object_list)  # django-tables2 wraps the queryset
        if hasattr(queryset, "query"):
            object_list = _DeferredJoinSlicer(queryset)
        super().__init__(object_list, per_page, **kwargs)
