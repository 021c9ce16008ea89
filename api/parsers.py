"""JSON request bodies up to ``LEADMGR_API_MAX_BODY_MB``.

DRF's own JSON parser reads the body through ``request.body``, which holds it to Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB): a bulk request of 10,000 leads is larger. This parser reads
the stream itself, up to the API's own limit, and answers 413 past it; malformed or too deeply
nested JSON is a 400, never a server error.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser

E_TOO_LARGE = (
    "The request body is over {mb} MB (the LEADMGR_API_MAX_BODY_MB setting): send fewer leads per request."
)
E_JSON = "The body is not valid JSON: {error}"
E_TOO_DEEP = "The body is not valid JSON: it is nested too deeply."


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON value")


class JSONBodyParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.LEADMGR_API_MAX_BODY_MB * 1024 * 1024
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(E_TOO_LARGE.format(mb=settings.LEADMGR_API_MAX_BODY_MB))
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
        except RecursionError:
            raise exceptions.ParseError(E_TOO_DEEP) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(E_JSON.format(error=exc)) from None
