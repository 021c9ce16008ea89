"""The Autocalls-compatible lead endpoints: ``POST /api/user/lead`` and ``GET /api/user/leads``,
in that API's request and response shapes, over the same importer and selectors as ``/api/v1/``.

Status names: leadmgr's ``max_retries`` is Autocalls' ``reached-max-retries``; the others are the
same words. ``blacklisted`` (numbers on a do-not-call list) matches no lead until such a list exists.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers as drf
from rest_framework.response import Response

from leads import selectors, textsearch
from leads.models import Lead, SecondaryContact, Status

from . import idempotency, rows
from .serializers import (
    VARIABLES_SCHEMA,
    ContactInputSerializer,
    VariablesField,
    id_field,
    phone_field,
    validated,
)
from .views import ApiView, create_one, get_lead

# Autocalls' words for leadmgr's statuses, and back.
TO_AUTOCALLS = {s.value: s.value for s in Status} | {Status.MAX_RETRIES.value: "reached-max-retries"}
FROM_AUTOCALLS = {v: k for k, v in TO_AUTOCALLS.items()}
BLACKLISTED = "blacklisted"
LIST_STATUSES = [*FROM_AUTOCALLS, BLACKLISTED]
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
PER_PAGE_DEFAULT, PER_PAGE_MAX = 15, 100
# ``total`` counts at most this many leads (a count that stops there, as the leads table's): at a
# million leads an exact COUNT(*) would cost more than the page. Past it, total reads as the cap,
# and next_page_url still leads on while there are rows.
TOTAL_CAP = 10_000
MESSAGE_CREATED = "Lead created successfully"
E_VARIABLES_SHAPE = "Must be an object of variables (or a list holding one such object)."


# --- Shapes ---------------------------------------------------------------------------------------


@extend_schema_field(
    {"oneOf": [VARIABLES_SCHEMA, {"type": "array", "items": VARIABLES_SCHEMA, "maxItems": 1}]}
)
class ObjectOrOneField(drf.Field):
    """Autocalls' examples send variables as an object and as a one-element array of one."""

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) <= 1:
            data = data[0] if data else {}
        if not isinstance(data, dict):
            raise drf.ValidationError(E_VARIABLES_SHAPE)
        return data

    def to_representation(self, value):
        return value


class AutocallsContactIn(ContactInputSerializer):
    variables = ObjectOrOneField(required=False, default=dict)


class AutocallsLeadIn(drf.Serializer):
    phone_number = phone_field()
    campaign_id = id_field()
    variables = ObjectOrOneField(required=False, default=dict)
    allow_dupplicate = drf.BooleanField(
        required=False,
        default=False,
        help_text="Spelled as Autocalls spells it. A campaign's numbers are unique in leadmgr: true "
        "answers the existing lead (200) instead of a new one.",
    )
    secondary_contacts = AutocallsContactIn(many=True, required=False, default=list)


class AutocallsCampaign(drf.Serializer):
    id = drf.IntegerField()
    name = drf.CharField()


class AutocallsContactOut(drf.Serializer):
    id = drf.IntegerField()
    phone_number = drf.CharField()
    variables = VariablesField()
    status = drf.CharField(help_text="The lead's status (contacts have none of their own).")
    created_at = drf.CharField(help_text="The lead's (YYYY-MM-DD HH:MM:SS, UTC).")
    updated_at = drf.CharField()


class AutocallsLeadOut(drf.Serializer):
    id = drf.IntegerField()
    campaign_id = drf.IntegerField()
    phone_number = drf.CharField()
    variables = VariablesField()
    status = drf.ChoiceField(choices=list(FROM_AUTOCALLS))
    created_at = drf.CharField(help_text="YYYY-MM-DD HH:MM:SS, UTC")
    updated_at = drf.CharField()
    campaign = AutocallsCampaign()
    secondary_contacts = AutocallsContactOut(many=True)


class AutocallsCreated(drf.Serializer):
    message = drf.CharField()
    data = AutocallsLeadOut()


class AutocallsLink(drf.Serializer):
    url = drf.CharField(allow_null=True)
    label = drf.CharField()
    active = drf.BooleanField()


class AutocallsPage(drf.Serializer):
    current_page = drf.IntegerField()
    data = AutocallsLeadOut(many=True)
    first_page_url = drf.CharField()
    # ``from`` is a Python keyword: the field is named below.
    last_page = drf.IntegerField()
    last_page_url = drf.CharField()
    links = AutocallsLink(many=True)
    next_page_url = drf.CharField(allow_null=True)
    path = drf.CharField()
    per_page = drf.IntegerField()
    prev_page_url = drf.CharField(allow_null=True)
    to = drf.IntegerField(allow_null=True)
    total = drf.IntegerField(help_text=f"Counted up to {TOTAL_CAP:,}.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = drf.IntegerField(allow_null=True)
        return fields


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime(DATE_FORMAT)


def lead_out(lead: Lead) -> dict:
    created, updated = _stamp(lead.created_at), _stamp(lead.updated_at)
    status = TO_AUTOCALLS.get(lead.status, lead.status)
    return {
        "id": lead.pk,
        "campaign_id": lead.campaign_id,
        "phone_number": lead.phone,
        "variables": lead.variables,
        "status": status,
        "created_at": created,
        "updated_at": updated,
        "campaign": {"id": lead.campaign.pk, "name": lead.campaign.name},
        "secondary_contacts": [
            {
                "id": c.pk,
                "phone_number": c.phone,
                "variables": c.variables,
                "status": status,
                "created_at": created,
                "updated_at": updated,
            }
            for c in lead.contacts.all()
        ],
    }


def leads_queryset():
    return Lead.objects.select_related("campaign").prefetch_related(
        Prefetch("contacts", SecondaryContact.objects.order_by("position", "id"))
    )


# --- Endpoints ------------------------------------------------------------------------------------


class AutocallsLeadCreateView(ApiView):
    required_perms = {"POST": ["leads.add_lead"]}
    problem_responses = {
        "409": "A lead with this phone is already in the campaign (allow_dupplicate false); existing_id names it.",
        "422": "The Idempotency-Key was used before with another body.",
    }

    @extend_schema(
        operation_id="autocalls_lead_create",
        request=AutocallsLeadIn,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        responses={201: AutocallsCreated, 200: AutocallsCreated},
        tags=["autocalls"],
    )
    def post(self, request):
        return idempotency.respond(request, lambda: self._create(request))

    def _create(self, request) -> Response:
        data = validated(AutocallsLeadIn, request.data)
        item = rows.Item(
            phone=data["phone_number"],
            campaign_id=data["campaign_id"],
            variables=dict(data["variables"]),
            contacts=[(c["phone_number"], dict(c["variables"])) for c in data["secondary_contacts"]],
        )
        on_duplicate = rows.OnDuplicate.SKIP if data["allow_dupplicate"] else rows.OnDuplicate.ERROR

        def render(lead_id: int) -> dict:
            return {"message": MESSAGE_CREATED, "data": lead_out(get_lead(lead_id, leads_queryset()))}

        return create_one(request, item, on_duplicate=on_duplicate, render=render)


class AutocallsLeadListView(ApiView):
    required_perms = {"GET": ["leads.view_lead"]}

    @extend_schema(
        operation_id="autocalls_leads_list",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=LIST_STATUSES),
            OpenApiParameter("campaign_id", OpenApiTypes.INT),
            OpenApiParameter("phone_number", OpenApiTypes.STR, description="Part of the number (digits)."),
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="Created on or after this day."),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="Created on or before this day."),
            OpenApiParameter(
                "per_page",
                OpenApiTypes.INT,
                description=f"Default {PER_PAGE_DEFAULT}, at most {PER_PAGE_MAX}.",
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="From 1."),
        ],
        responses=AutocallsPage,
        tags=["autocalls"],
    )
    def get(self, request):
        p = validated(ListParams, request.query_params)
        status = p.get("status")
        leads = selectors.filter_leads(
            leads_queryset(),
            campaign=p.get("campaign_id"),
            statuses=[FROM_AUTOCALLS[status]] if status and status != BLACKLISTED else None,
            created_from=p.get("date_from"),
            created_to=p.get("date_to"),
        )
        if status == BLACKLISTED:
            leads = leads.none()
        digits = "".join(ch for ch in p.get("phone_number", "") if ch.isdigit())
        if digits:
            # The search index narrows the rows first, as the search bar's phone match does.
            leads = leads.filter(textsearch.candidates_q(digits), phone__contains=digits)
        per_page, page = p["per_page"], p["page"]
        start = (page - 1) * per_page
        # One row past the page says whether another page follows, without a count.
        found = list(leads.order_by("-id")[start : start + per_page + 1])
        has_next = len(found) > per_page
        found = found[:per_page]
        total = max(selectors.count_capped(leads, TOTAL_CAP - 1), start + len(found))
        last_page = max(1, -(-total // per_page))
        return Response(self._page(request, p, found, page, per_page, total, last_page, has_next))

    def _page(self, request, p, found, page, per_page, total, last_page, has_next) -> dict:
        path = request.build_absolute_uri(request.path)
        kept = {k: v for k, v in request.query_params.items() if k != "page"}

        def url(n: int) -> str:
            return f"{path}?{urlencode({**kept, 'page': n})}"

        start = (page - 1) * per_page
        prev_url = url(page - 1) if page > 1 else None
        next_url = url(page + 1) if has_next else None
        links = [{"url": prev_url, "label": "&laquo; Previous", "active": False}]
        links += [
            {"url": url(n), "label": str(n), "active": n == page} for n in range(1, min(last_page, 10) + 1)
        ]
        links.append({"url": next_url, "label": "Next &raquo;", "active": False})
        return {
            "current_page": page,
            "data": [lead_out(lead) for lead in found],
            "first_page_url": url(1),
            "from": start + 1 if found else None,
            "last_page": last_page,
            "last_page_url": url(last_page),
            "links": links,
            "next_page_url": next_url,
            "path": path,
            "per_page": per_page,
            "prev_page_url": prev_url,
            "to": start + len(found) if found else None,
            "total": total,
        }


class ListParams(drf.Serializer):
    status = drf.ChoiceField(choices=LIST_STATUSES, required=False)
    campaign_id = id_field(required=False)
    phone_number = phone_field(required=False, allow_blank=True)
    date_from = drf.DateField(required=False)
    date_to = drf.DateField(required=False)
    per_page = drf.IntegerField(min_value=1, max_value=PER_PAGE_MAX, default=PER_PAGE_DEFAULT)
    # Pages far past any real data are refused rather than sent to the database as a huge OFFSET.
    page = drf.IntegerField(min_value=1, max_value=1_000_000, default=1)
