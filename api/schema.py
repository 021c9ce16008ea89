"""The OpenAPI schema's additions: every operation lists the problem answers it can give."""

from __future__ import annotations

from drf_spectacular import openapi
from rest_framework import serializers

from .errors import PROBLEM_CONTENT_TYPE


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True, help_text="A path into the request, e.g. secondary_contacts[1].phone_number"
    )
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True)


# Answers any operation may give: bad input, no token, no permission, not found, wrong Accept,
# wrong body type.
COMMON_PROBLEMS = {
    "400": "Invalid request (see errors).",
    "401": "No valid API token.",
    "403": "The token's user lacks the permission.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "406": "Not acceptable (the API answers JSON).",
    "413": "The request body is over LEADMGR_API_MAX_BODY_MB.",
    "415": "Unsupported media type (send JSON).",
}


# One line per operation for the docs page's list.
SUMMARIES = {
    "leads_list": "List leads (the leads table's filters, newest first, cursor pages)",
    "leads_create": "Create a lead (on_duplicate, Idempotency-Key)",
    "leads_retrieve": "A lead with its contacts, status history and call attempts",
    "leads_partial_update": "Edit a lead (variables merged or replaced, contacts replaced)",
    "leads_destroy": "Delete a lead (Staff)",
    "leads_status_change": "Change a lead's status through the lifecycle",
    "leads_bulk_create": "Create up to 10,000 leads, checked as the CSV import (Staff)",
    "leads_export": "Export leads as CSV or NDJSON, streamed (Staff)",
    "campaigns_list": "List campaigns with their leads per status",
    "campaigns_retrieve": "A campaign with its leads per status",
    "campaigns_start": "Start a draft campaign",
    "campaigns_pause": "Pause a running campaign",
    "campaigns_resume": "Resume a paused campaign",
    "autocalls_lead_create": "Autocalls-compatible: create a lead",
    "autocalls_leads_list": "Autocalls-compatible: list leads (page object)",
}


class AutoSchema(openapi.AutoSchema):
    def get_summary(self):
        return SUMMARIES.get(self.get_operation_id()) or super().get_summary()

    # Views add theirs: {"409": "why"}.
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        extra = getattr(self.view, "problem_responses", {})
        for code, description in {**COMMON_PROBLEMS, **extra}.items():
            if code not in responses:
                responses[code] = self._problem(code, description, direction)
        return responses

    def _problem(self, code: str, description: str, direction):
        response = self._get_response_for_code(ProblemSerializer, code, direction=direction)
        content = response.get("content", {})
        schema = next(iter(content.values()))["schema"] if content else None
        return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}}}
