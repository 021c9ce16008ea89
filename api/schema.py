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


class AutoSchema(openapi.AutoSchema):
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
