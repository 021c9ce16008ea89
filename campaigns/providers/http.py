"""A provider behind an HTTP endpoint: POST each call as signed JSON; results come back signed.

Request: ``POST LEADMGR_PROVIDER_URL`` with the JSON of ``request_payload`` and the signature headers
of ``signing``. The endpoint answers 2xx with a JSON object, optionally ``{"provider_ref": "..."}``.
A timeout, a connection error, a non-2xx status or a body that is not a JSON object refuses the call
(the runner records the dial as failed and goes on). The outcome arrives later on the callback URL.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from . import signing
from .base import CallRequest, CallResult, Placement

E_TIMEOUT = "The provider did not answer within {timeout} s."
E_STATUS = "The provider answered HTTP {status}."
E_UNREACHABLE = "The provider could not be reached: {error}."
E_MALFORMED = "The provider's answer is not a JSON object with a string provider_ref."

MAX_PARALLEL = 8


def request_payload(request: CallRequest) -> dict:
    return asdict(request)


class HttpProvider:
    name = "http"

    def __init__(self, *, url: str, secret: str, timeout: float, clock=time.time):
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.clock = clock

    def place(self, requests: list[CallRequest]) -> list[Placement]:
        if len(requests) <= 1:
            return [self._place_one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(requests))) as pool:
            return list(pool.map(self._place_one, requests))

    def _place_one(self, request: CallRequest) -> Placement:
        body = json.dumps(request_payload(request), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            **signing.headers(self.secret, int(self.clock()), body),
        }
        http_request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            return Placement(request.call_id, False, detail=E_STATUS.format(status=exc.code))
        except TimeoutError:
            return Placement(request.call_id, False, detail=E_TIMEOUT.format(timeout=self.timeout))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                return Placement(request.call_id, False, detail=E_TIMEOUT.format(timeout=self.timeout))
            return Placement(request.call_id, False, detail=E_UNREACHABLE.format(error=reason))
        try:
            answer = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            answer = None
        ref = answer.get("provider_ref", "") if isinstance(answer, dict) else None
        if not isinstance(ref, str):
            return Placement(request.call_id, False, detail=E_MALFORMED)
        return Placement(request.call_id, True, provider_ref=ref[:128])

    def due_results(self) -> list[CallResult]:
        return []

    def in_flight(self) -> int:
        return 0
