"""The JSON API's endpoints (``/api/v1/``): thin doors over the importer (``api.rows``),
``leads.services``, ``leads.lifecycle``, ``leads.selectors`` and ``campaigns.controls``."""

from __future__ import annotations

import csv
import json

from django.db.models import Prefetch
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers as drf
from rest_framework import status as http
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import controls
from campaigns.models import Campaign
from compliance.audit import audited
from leads import lifecycle, selectors, services, validation
from leads.csv import exporter
from leads.csv.columns import unquote
from leads.filters import FILTER_PARAMS, LeadFilter
from leads.models import CallAttempt, Lead, SecondaryContact, Status, StatusChange

from . import edits, errors, idempotency, rows
from . import serializers as s

E_DUPLICATE = validation.E_DUPLICATE_PRIMARY + " Its id is {id}."


class ApiView(APIView):
    """DRF authenticates API requests itself (token or session; its views are exempt from the
    site's sign-in redirect). ``required_perms`` per method: see ``api.permissions``;
    ``problem_responses``: the view's own error answers, for the schema."""

    required_perms: dict[str, list[str]] = {}
    problem_responses: dict[str, str] = {}


class NotFoundView(APIView):
    """Any other address under /api/: a 404 in the API's error shape, not the site's HTML page."""

    authentication_classes: list = []
    permission_classes: list = []

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs, self.request = args, kwargs, self.initialize_request(request)
        self.headers = self.default_response_headers
        response = errors.problem(404, "No API endpoint at this address: see /api/docs/.")
        return self.finalize_response(self.request, response)


def get_lead(pk, queryset=None) -> Lead:
    """The lead with id ``pk`` or 404 (an id no database can hold selects nothing)."""
    lead_id = selectors.parse_id(pk)
    lead = (
        (queryset if queryset is not None else Lead.objects.all()).filter(pk=lead_id).first()
        if lead_id
        else None
    )
    if lead is None:
        raise Http404
    return lead


def lead_queryset():
    return Lead.objects.prefetch_related(
        Prefetch("contacts", SecondaryContact.objects.order_by("position", "id"))
    )


def lead_detail_queryset():
    return lead_queryset().prefetch_related(
        Prefetch("history", StatusChange.objects.select_related("user").order_by("at", "id")),
        Prefetch("calls", CallAttempt.objects.order_by("started_at", "id")),
    )


def lead_data(pk: int) -> dict:
    return s.LeadSerializer(get_lead(pk, lead_queryset())).data


# --- Filters shared by the list and the export --------------------------------------------------

FILTER_PARAMETERS = [
    OpenApiParameter("campaign", OpenApiTypes.INT, description="A campaign's id."),
    OpenApiParameter("status", OpenApiTypes.STR, many=True, enum=Status.values, description="Repeatable."),
    OpenApiParameter("created_from", OpenApiTypes.DATE, description="Created on or after this day."),
    OpenApiParameter("created_to", OpenApiTypes.DATE, description="Created on or before this day."),
    OpenApiParameter("var", OpenApiTypes.STR, description="A variable's name (with value: contains)."),
    OpenApiParameter("value", OpenApiTypes.STR, description="Text the variable (or any variable) contains."),
    OpenApiParameter(
        "variables", OpenApiTypes.STR, description="Text any variable's name or value contains."
    ),
    OpenApiParameter("q", OpenApiTypes.STR, description="Search: part of the phone or of any variable."),
]


def filtered_leads(request, queryset):
    """The leads table's filter set over the query string: the same rows the table shows."""
    filterset = LeadFilter(request.query_params, queryset=queryset)
    if not filterset.is_valid():
        raise drf.ValidationError({name: list(messages) for name, messages in filterset.form.errors.items()})
    return filterset.qs


class LeadCursor(CursorPagination):
    """Newest first by id; never counts the rows."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


# --- Leads ----------------------------------------------------------------------------------------


class LeadListView(ApiView):
    pagination_class = LeadCursor  # also tells the schema the list's page shape and parameters
    required_perms = {"GET": ["leads.view_lead"], "POST": ["leads.add_lead"]}
    problem_responses = {
        "409": "A lead with this phone is already in the campaign (on_duplicate=error); existing_id names it.",
        "422": "The Idempotency-Key was used before with another body.",
    }

    @extend_schema(
        operation_id="leads_list",
        parameters=[*FILTER_PARAMETERS],
        responses=s.LeadSerializer(many=True),
    )
    def get(self, request):
        leads = filtered_leads(request, lead_queryset())
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(leads, request, view=self)
        return paginator.get_paginated_response(s.LeadSerializer(page, many=True).data)

    @extend_schema(
        operation_id="leads_create",
        request=s.LeadCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        responses={201: s.LeadSerializer, 200: s.LeadSerializer},
    )
    def post(self, request):
        return idempotency.respond(request, lambda: self._create(request))

    def _create(self, request) -> Response:
        data = s.validated(s.LeadCreateSerializer, request.data)
        return create_one(request, s.item_from(data), on_duplicate=data["on_duplicate"], render=lead_data)


def create_one(
    request, item: rows.Item, *, on_duplicate: str, render, duplicate_status: int = 409
) -> Response:
    """One lead through the importer; the answer for created, kept, merged or refused."""
    outcome = rows.run(
        [item],
        user=request.user,
        on_duplicate=rows.OnDuplicate.UPDATE
        if on_duplicate == rows.OnDuplicate.UPDATE
        else rows.OnDuplicate.SKIP,
        indexed_paths=False,
    )
    if outcome.file_error:
        return errors.validation_problem([{"field": "variables", "message": outcome.file_error}])
    result = outcome.results[0]
    if result.errors:
        return errors.validation_problem(result.errors)
    if result.action == "skipped" and on_duplicate == rows.OnDuplicate.ERROR:
        lead = Lead.objects.select_related("campaign").get(pk=result.lead_id)
        detail = E_DUPLICATE.format(phone=lead.phone, campaign=lead.campaign.name, id=lead.pk)
        return errors.problem(
            duplicate_status,
            detail,
            type=errors.DUPLICATE,
            title="Duplicate lead",
            errors=[{"field": "phone_number", "message": detail}],
            existing_id=lead.pk,
        )
    code = http.HTTP_201_CREATED if result.action == "created" else http.HTTP_200_OK
    return Response(render(result.lead_id), status=code)


class LeadDetailView(ApiView):
    required_perms = {
        "GET": ["leads.view_lead"],
        "PATCH": ["leads.change_lead"],
        "DELETE": ["leads.delete_lead"],
    }
    problem_responses = {"409": "A call attempt is under way: phone, campaign and contacts cannot change."}

    @extend_schema(operation_id="leads_retrieve", responses=s.LeadDetailSerializer)
    def get(self, request, pk):
        return Response(s.LeadDetailSerializer(get_lead(pk, lead_detail_queryset())).data)

    @extend_schema(
        operation_id="leads_partial_update", request=s.LeadUpdateSerializer, responses=s.LeadSerializer
    )
    def patch(self, request, pk):
        lead = get_lead(pk, Lead.objects.select_related("campaign__assistant"))
        fields, problems = edits.update_arguments(lead, s.validated(s.LeadUpdateSerializer, request.data))
        if problems:
            return errors.validation_problem(problems)
        try:
            services.lead_update(lead=lead, **fields)
        except validation.LeadInvalid as exc:
            return _update_problem(exc.lead_errors)
        return Response(lead_data(lead.pk))

    @extend_schema(operation_id="leads_destroy", responses={204: None})
    def delete(self, request, pk):
        lead = get_lead(pk)
        services.leads_delete(Lead.objects.filter(pk=lead.pk))
        return Response(status=http.HTTP_204_NO_CONTENT)


def _update_problem(lead_errors: list[validation.LeadError]) -> Response:
    """``services.lead_update``'s typed errors as request paths."""
    refused = [e.message for e in lead_errors if e.field == validation.LEAD]
    if refused:  # the lifecycle's edit refusal while Processing
        return errors.problem(409, " ".join(refused), type=errors.EDIT_REFUSED, title="Edit refused")
    return errors.validation_problem([{"field": _path(e), "message": e.message} for e in lead_errors])


def _path(error: validation.LeadError) -> str:
    if error.field == validation.PHONE:
        return "phone_number"
    if error.field == validation.CONTACT_PHONE:
        return f"secondary_contacts[{error.contact}].phone_number"
    return error.field


class LeadStatusView(ApiView):
    required_perms = {"POST": ["leads.change_lead"]}
    problem_responses = {"409": "The lifecycle refuses the change (detail says why)."}

    @extend_schema(
        operation_id="leads_status_change", request=s.StatusChangeSerializer, responses=s.LeadSerializer
    )
    def post(self, request, pk):
        lead = get_lead(pk, Lead.objects.select_related("campaign"))
        data = s.validated(s.StatusChangeSerializer, request.data)
        try:
            lifecycle.set_status(
                lead,
                data["status"],
                user=request.user,
                reason=data["reason"],
                scheduled_at=data["scheduled_at"],
            )
        except lifecycle.TransitionError as exc:
            return errors.problem(
                409, exc.message, type=errors.TRANSITION_REFUSED, title="Status change refused"
            )
        return Response(lead_data(lead.pk))


class LeadBulkView(ApiView):
    required_perms = {"POST": ["leads.add_lead", "leads.import_lead"]}
    problem_responses = {"422": "Strict mode and some items were rejected: nothing was written."}

    @extend_schema(
        operation_id="leads_bulk_create",
        request=inline_serializer(
            "BulkRequest",
            {
                "items": s.LeadInputSerializer(many=True),
                "skip_invalid": drf.BooleanField(default=False),
                "on_duplicate": drf.ChoiceField(choices=["skip", "update"], default="skip"),
            },
        ),
        responses={
            200: s.BulkResultSerializer,
            422: OpenApiResponse(s.BulkResultSerializer, description="Rejected items; nothing was written."),
        },
    )
    def post(self, request):
        data = s.validated(s.BulkSerializer, request.data)
        parsed = [rows.parse_item(item, f"items[{i}].") for i, item in enumerate(data["items"])]
        outcome = rows.run(
            [item for item, _ in parsed],
            shape_errors=[problems for _, problems in parsed],
            user=request.user,
            on_duplicate=data["on_duplicate"],
            skip_invalid=data["skip_invalid"],
        )
        if outcome.file_error:
            return errors.validation_problem([{"field": "items", "message": outcome.file_error}])
        counts = {"created": 0, "updated": 0, "skipped": 0}
        for r in outcome.results:
            if r.action in counts:
                counts[r.action] += 1
        body = {
            "written": outcome.written,
            **counts,
            "rejected": len(outcome.rejected),
            "results": [
                {"index": r.index, "id": r.lead_id, "action": r.action, "errors": r.errors}
                for r in outcome.results
            ],
        }
        # Strict and something was rejected: nothing was written, the results say why.
        code = http.HTTP_422_UNPROCESSABLE_ENTITY if not outcome.written else http.HTTP_200_OK
        return Response(body, status=code)


class LeadExportView(ApiView):
    required_perms = {"GET": ["leads.export_lead"]}

    @extend_schema(
        operation_id="leads_export",
        parameters=[
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["csv", "ndjson"], description="csv (default) or ndjson."
            ),
            OpenApiParameter(
                "columns", OpenApiTypes.STR, description="Comma-separated columns (phone always kept)."
            ),
            OpenApiParameter(
                "with_secondary", OpenApiTypes.BOOL, description="Add secondary contact columns."
            ),
            *FILTER_PARAMETERS,
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/x-ndjson"): OpenApiTypes.STR,
        },
    )
    def get(self, request):
        fmt = request.query_params.get("format") or "csv"
        if fmt not in ("csv", "ndjson"):
            raise drf.ValidationError({"format": ["Choose csv or ndjson."]})
        leads = filtered_leads(request, Lead.objects.all())
        columns = [c for c in (request.query_params.get("columns") or "").split(",") if c.strip()] or None
        with_secondary = request.query_params.get("with_secondary", "").lower() in ("1", "true", "yes", "on")
        # Recorded in the export audit like every other door's export (compliance.audit).
        chunks = audited(
            exporter.export_csv(leads, columns=columns, with_secondary=with_secondary),
            user=request.user,
            filters={
                name: request.query_params.getlist(name)
                for name in FILTER_PARAMS
                if any(request.query_params.getlist(name))
            },
            columns=columns,
            channel="api",
        )
        if fmt == "csv":
            response = StreamingHttpResponse(
                exporter.iter_bytes(chunks), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = 'attachment; filename="leads.csv"'
            return response
        return StreamingHttpResponse(ndjson_lines(chunks), content_type="application/x-ndjson")


INTEGER_COLUMNS = ("id", "attempts")


def ndjson_lines(chunks):
    """The CSV export's rows as JSON objects, one a line: the same columns and values, the
    spreadsheet's text mark taken off again (JSON is never run as a formula)."""
    reader = csv.reader(_lines(chunks))
    header = [unquote(name) for name in next(reader, [])]
    buffer: list[str] = []
    for cells in reader:
        row = {}
        for name, cell in zip(header, cells, strict=False):
            if name in INTEGER_COLUMNS and cell.isdigit():
                row[name] = int(cell)
            elif cell:
                row[name] = unquote(cell)
        buffer.append(json.dumps(row, ensure_ascii=False))
        if len(buffer) >= 1000:
            yield ("\n".join(buffer) + "\n").encode()
            buffer = []
    if buffer:
        yield ("\n".join(buffer) + "\n").encode()


def _lines(chunks):
    for chunk in chunks:
        yield from chunk.splitlines(keepends=True)


# --- Campaigns ------------------------------------------------------------------------------------


class CampaignListView(ApiView):
    required_perms = {"GET": ["campaigns.view_campaign"]}

    @extend_schema(operation_id="campaigns_list", responses=s.CampaignSerializer(many=True))
    def get(self, request):
        campaigns = Campaign.objects.order_by("name")
        counts = selectors.status_counts_by_campaign()
        return Response(s.CampaignSerializer(campaigns, many=True, context={"counts": counts}).data)


def get_campaign(pk) -> Campaign:
    campaign_id = selectors.parse_id(pk)
    campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    if campaign is None:
        raise Http404
    return campaign


class CampaignDetailView(ApiView):
    required_perms = {"GET": ["campaigns.view_campaign"]}

    @extend_schema(operation_id="campaigns_retrieve", responses=s.CampaignSerializer)
    def get(self, request, pk):
        campaign = get_campaign(pk)
        counts = {campaign.pk: selectors.status_counts(campaign)}
        return Response(s.CampaignSerializer(campaign, context={"counts": counts}).data)


CONTROL_REQUEST = inline_serializer(
    "CampaignControlRequest", {"reason": drf.CharField(required=False, allow_blank=True, max_length=500)}
)


class CampaignControlView(ApiView):
    """Start, Pause, Resume through ``campaigns.controls`` (its permission and state rules)."""

    required_perms = {"POST": ["campaigns.view_campaign", controls.CONTROL]}
    problem_responses = {"409": "The campaign's state does not allow this (detail says why)."}
    action: controls.Action

    def control(self, request, pk) -> Response:
        campaign = get_campaign(pk)
        reason = request.data.get("reason", "") if isinstance(request.data, dict) else ""
        if not isinstance(reason, str) or len(reason) > 500:
            raise drf.ValidationError({"reason": ["Must be text of at most 500 characters."]})
        try:
            controls.change_state(campaign, self.action, user=request.user, reason=reason)
        except controls.ControlRefused as exc:
            return errors.problem(409, exc.message, type=errors.CONTROL_REFUSED, title="Control refused")
        counts = {campaign.pk: selectors.status_counts(campaign)}
        return Response(s.CampaignSerializer(campaign, context={"counts": counts}).data)


def control_view(action: controls.Action):
    """The view of one action, with an operation of its own in the schema."""

    def post(self, request, pk):
        return self.control(request, pk)

    post.__doc__ = f"{controls.TRANSITIONS[action].label} the campaign (campaigns/controls.py rules)."
    documented = extend_schema(
        operation_id=f"campaigns_{action.value}", request=CONTROL_REQUEST, responses=s.CampaignSerializer
    )(post)
    view = type(
        f"Campaign{action.value.title()}View", (CampaignControlView,), {"action": action, "post": documented}
    )
    return view.as_view()
