"""Request guards that must run before anything reads the request body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

E_UPLOAD_TOO_LARGE = (
    "The file is too large: the limit is {limit} MB. Split it into smaller files and upload each."
)


def upload_limit_bytes() -> int:
    return settings.LEADMGR_MAX_UPLOAD_MB * 1024 * 1024


class UploadLimitMiddleware:
    """413 for a request whose declared body is over ``LEADMGR_MAX_UPLOAD_MB`` (plus room for the
    form's other fields), before CSRF or a form reads a byte of it. A body sent without a length
    (chunked) is still held to the limit by the upload form."""

    SLACK = 64 * 1024  # the multipart envelope and the form's other fields

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > upload_limit_bytes() + self.SLACK:
            message = E_UPLOAD_TOO_LARGE.format(limit=settings.LEADMGR_MAX_UPLOAD_MB)
            html = render_to_string("upload_too_large.html", {"message": message})
            return HttpResponse(html, status=413)
        return self.get_response(request)
