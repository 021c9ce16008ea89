"""One shape for every error the API answers: RFC 9457 problem details.

``{"type", "title", "status", "detail", "errors": [{"field", "message"}]}`` as
``application/problem+json``. ``field`` is a path into the request (``secondary_contacts[1].phone_number``)
or null for the request as a whole; messages are the sentences the lead form and the CSV import show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:leadmgr:problem:"

# Problem types beyond the plain HTTP ones (those are "about:blank", as RFC 9457 recommends).
VALIDATION = "validation"
DUPLICATE = "duplicate"
TRANSITION_REFUSED = "transition-refused"
EDIT_REFUSED = "edit-refused"
CONTROL_REFUSED = "control-refused"
IDEMPOTENCY_MISMATCH = "idempotency-key-reused"
IDEMPOTENCY_IN_PROGRESS = "idempotency-key-in-progress"

E_VALIDATION = "The request is not valid: see errors for what to fix."


class Problem(exceptions.APIException):
    """An error with a problem type, answered as problem details (``extra`` joins the members)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        type: str | None = None,
        title: str | None = None,
        errors: Sequence[Mapping] = (),
        **extra,
    ):
        super().__init__(detail)
        self.status_code = status_code
        self.problem_type = type
        self.title = title
        self.errors = list(errors)
        self.extra = extra


def field_errors(detail, path: str = "") -> list[dict]:
    """DRF's nested error detail as a flat list of {field, message}, fields as request paths."""
    found: list[dict] = []
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                found.extend(field_errors(value, path))
            else:
                found.extend(field_errors(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(detail, list) and any(isinstance(item, Mapping | list) for item in detail):
        for i, item in enumerate(detail):
            found.extend(field_errors(item, f"{path}[{i}]"))
    elif isinstance(detail, list):
        found.extend({"field": path or None, "message": str(message)} for message in detail)
    elif detail not in (None, ""):
        found.append({"field": path or None, "message": str(detail)})
    return found


def problem(
    status_code: int,
    detail: str,
    *,
    type: str | None = None,
    title: str | None = None,
    errors: Sequence[Mapping] = (),
    headers: Mapping[str, str] | None = None,
    **extra,
) -> Response:
    body = {
        "type": f"{TYPE_PREFIX}{type}" if type else "about:blank",
        "title": title or HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "errors": list(errors),
        **extra,
    }
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def validation_problem(errors: Sequence[Mapping], detail: str = "") -> Response:
    return problem(
        status.HTTP_400_BAD_REQUEST,
        detail or (errors[0]["message"] if len(errors) == 1 else E_VALIDATION),
        type=VALIDATION,
        title="Invalid request",
        errors=errors,
    )


def problem_handler(exc: Exception, context) -> Response | None:
    """DRF's exception handler: every error (ours, DRF's, Django's 404 and 403) as problem details."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Problem):
        return problem(
            exc.status_code,
            str(exc.detail),
            type=exc.problem_type,
            title=exc.title,
            errors=exc.errors,
            **exc.extra,
        )
    if isinstance(exc, exceptions.ValidationError):
        return validation_problem(field_errors(exc.detail))
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 (logged), never a made-up answer
    headers = {}
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        view = context.get("view")
        request = context.get("request")
        auth_header = view.get_authenticate_header(request) if view and request else None
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
            # DRF answers 403 when no authenticator offers a challenge; ours always does.
            exc.status_code = status.HTTP_401_UNAUTHORIZED
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    detail = exc.detail if isinstance(exc.detail, str) else E_VALIDATION
    return problem(exc.status_code, str(detail), headers=headers)
