"""Pagination that never counts a million rows to draw one page."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property


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
