"""The leads table: declarative columns over the filtered queryset the view hands in."""

from __future__ import annotations

import django_tables2 as tables
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from leadmgr import storage

from .models import NEXT_ATTEMPT_KNOWN, NEXT_ATTEMPT_MISSING, Lead

STATUS_BADGES = {
    "created": "text-bg-secondary",
    "scheduled": "text-bg-info",
    "processing": "text-bg-warning",
    "rescheduled": "text-bg-primary",
    "completed": "text-bg-success",
    "max_retries": "text-bg-danger",
}
KEY_VARIABLES = 3  # how many of a lead's variables the table shows


def next_attempt_order(descending: bool) -> tuple:
    """The table's sort by next attempt: leads without one last, in both directions.

    In the direction where the database already puts NULL last (SQLite descending, PostgreSQL
    ascending) the plain order, which lead_queue serves under a campaign and status filter and
    lead_next_attempt over every lead; in the other, the expression lead_next_attempt_missing or
    lead_next_attempt_known leads with (over every lead; under a filter the index entries sort).
    """
    if descending:
        if storage.nulls_sort_first():
            return F("next_attempt_at").desc(), F("id").desc()
        return NEXT_ATTEMPT_KNOWN.desc(), F("next_attempt_at").desc(), F("id").desc()
    if storage.nulls_sort_first():
        return NEXT_ATTEMPT_MISSING.asc(), F("next_attempt_at").asc(), F("id").asc()
    return F("next_attempt_at").asc(), F("id").asc()


def _when(value) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


class LeadTable(tables.Table):
    pk = tables.CheckBoxColumn(
        accessor="pk",
        attrs={
            "th__input": {"class": "form-check-input", "data-select-page": "", "aria-label": "Select page"},
            "td__input": {"class": "form-check-input", "form": "bulk", "aria-label": "Select lead"},
        },
    )
    # Linked to the lead page in render_phone. Ends on the id, as every sort does: a number may be
    # in several campaigns, and a page read by walking lead_phone needs one order for every row.
    phone = tables.Column(
        verbose_name="Phone number", order_by=("phone", "id"), attrs={"td": {"class": "text-nowrap"}}
    )
    campaign = tables.Column(
        verbose_name="Campaign", accessor="campaign__name", order_by=("campaign__name", "-id")
    )
    status = tables.Column()
    key_variables = tables.Column(verbose_name="Key variables", accessor="variables", orderable=False)
    # Annotated by the view with a per-row subquery: sorting by it would count every lead's contacts.
    contacts = tables.Column(
        verbose_name="Secondary contacts",
        accessor="n_contacts",
        orderable=False,
        attrs={"td": {"class": "text-end"}},
    )
    # Each sort ends on the id so pages are stable. Attempts and next attempt have no index of their
    # own (each would be paid for on every insert and delete): over the whole table they sort in
    # a scan; the runner's lead_queue serves next attempt within a campaign and status.
    attempts = tables.Column(order_by=("attempts", "id"), attrs={"td": {"class": "text-end"}})
    # Plain columns formatted in Python: DateTimeColumn renders a template per cell, the table's
    # largest cost at 50 rows.
    # Sorted by order_next_attempt_at: leads with no next attempt last, both ways.
    next_attempt_at = tables.Column(verbose_name="Next attempt", attrs={"td": {"class": "text-nowrap"}})
    created_at = tables.Column(
        verbose_name="Created", order_by=("id",), attrs={"td": {"class": "text-nowrap"}}
    )

    # The sorts an index walks over every lead (leads/models.py: lead_phone, lead_attempts,
    # lead_next_attempt and its NULLs-last partner, the primary key; the campaigns by name, then
    # lead_campaign): a filtered first page sorted by one of them tests the filter on the order's
    # first rows and keeps the matching ones, rather than sorting every match (leadmgr.pagination,
    # storage.pages.walked_ids). On PostgreSQL the campaigns' first rows come one campaign at a time.
    walked_orders = frozenset({"phone", "attempts", "next_attempt_at", "created_at", "campaign"})

    class Meta:
        model = Lead
        fields = ()
        sequence = (
            "pk",
            "phone",
            "campaign",
            "status",
            "key_variables",
            "contacts",
            "attempts",
            "next_attempt_at",
            "created_at",
        )
        order_by = ("-created_at",)  # the column sorts by id, the creation order
        # Small type: the nine columns fit a 1366 px screen beside the filters.
        attrs = {"class": "table table-sm table-hover align-middle small", "id": "leads-table"}
        template_name = "leads/_lead_table.html"  # the cells' attributes worked out once per column
        empty_text = "No leads match these filters."

    @cached_property
    def td_attrs(self) -> dict[str, SafeString]:
        """Each column's <td> attributes, worked out once: they depend on no record (no callables
        in ``attrs``), and the library's template works them out again for every cell."""
        return {column.name: column.attrs["td"].as_html() for column in self.columns}

    @cached_property
    def _lead_url_prefix(self) -> str:
        return reverse("leads:detail", args=[0]).removesuffix("0/")

    def render_phone(self, value, record) -> str:
        # Lead.get_absolute_url with the path reversed once per table: reverse() costs tens of
        # microseconds a call (200 rows a page), and one format_html is cheaper than linkify's.
        return format_html('<a href="{}{}/">{}</a>', self._lead_url_prefix, record.pk, value)

    def render_status(self, value, record) -> str:
        return format_html(
            '<span class="badge {}">{}</span>',
            STATUS_BADGES.get(record.status, ""),
            record.get_status_display(),
        )

    def render_next_attempt_at(self, value) -> str:
        return _when(value)

    def render_created_at(self, value) -> str:
        return _when(value)

    def order_next_attempt_at(self, queryset, is_descending: bool):
        """Leads with a next attempt first, soonest (or latest) first; those without one last."""
        return queryset.order_by(*next_attempt_order(is_descending)), True

    def render_key_variables(self, value) -> str:
        # Each value cut to one short line (CSS), whole on hover: the table fits 1366 px.
        items = [(f"{k}: {v}", k, v) for k, v in list((value or {}).items())[:KEY_VARIABLES]]
        return format_html_join(
            " ",
            '<span class="small key-variable" title="{}"><span class="text-body-secondary">{}:</span> {}</span>',
            items,
        )
