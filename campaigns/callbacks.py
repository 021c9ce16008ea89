"""The http provider's callback: a signed call result, authenticated, parsed and handed to the runner.

``accept_callback`` is the whole of ``views.http_callback``: it checks the signature and its age,
refuses a replay, parses the result (a malformed one that names a call waiting for its result
fails that dial, so the attempt moves on) and applies it through ``Runner.handle_results``, the one
path every provider's results take. An opted-out callee's number goes to compliance's list.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.conf import settings
from django.utils import timezone

from compliance import services as compliance_services
from leadmgr.storage import storable_text

from . import services
from .providers import OUTCOMES, CallResult, signing
from .runner import Runner

E_REPLAY = "This signed callback was already received: refusing a replay."
E_MALFORMED = (
    "The result must be a JSON object with an integer call_id, an outcome among "
    f"{', '.join(OUTCOMES)}, optional provider_ref and detail strings, and an optional "
    "opted_out boolean."
)
E_UNKNOWN_CALL = "No call {call_id} exists."
MAX_CALL_ID = 2**63 - 1  # ids are positive 64-bit integers
E_CONFLICT = "Call {call_id} already ended with another outcome; this result is ignored."


def _parse_result(body: bytes) -> tuple[CallResult | None, int | None]:
    """The result in a callback body; (None, call_id or None) when malformed."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        return None, None
    if not isinstance(data, dict):
        return None, None
    call_id = data.get("call_id")
    if not isinstance(call_id, int) or isinstance(call_id, bool) or not 1 <= call_id <= MAX_CALL_ID:
        return None, None  # no call has that id (and the database cannot even be asked)
    outcome, ref, detail = data.get("outcome"), data.get("provider_ref", ""), data.get("detail", "")
    if outcome not in OUTCOMES or not isinstance(ref, str) or not isinstance(detail, str):
        return None, call_id
    # The provider's texts are kept as sent, but for what no database stores (NUL, lone surrogates).
    return CallResult(call_id, outcome, storable_text(ref), detail=storable_text(detail)), call_id


def _opted_out(body: bytes) -> bool | None:
    """The result's optional ``opted_out`` flag (the callee asked not to be called again); None
    when it is there but not a JSON boolean."""
    flag = json.loads(body).get("opted_out", False)
    return flag if isinstance(flag, bool) else None


def accept_callback(
    body: bytes, timestamp: str | None, signature: str | None, *, runner: Runner | None = None
) -> tuple[int, dict]:
    """Authenticate and apply one provider callback; returns (HTTP status, JSON answer).

    401: bad signature or stale timestamp. 409: the same signed request again (replay), or a result
    for a call that already ended otherwise. 400: malformed — when it names a call waiting for a
    result, that dial is recorded as failed so the attempt moves on (next number or retry policy).
    A repeated delivery of the same result, freshly signed, answers 200 "duplicate" and changes nothing.
    """
    try:
        signing.verify(
            settings.LEADMGR_PROVIDER_SECRET,
            timestamp,
            signature,
            body,
            now=time.time(),
            max_age=settings.LEADMGR_CALLBACK_MAX_AGE,
        )
    except signing.SignatureError as exc:
        return 401, {"error": str(exc)}
    keep = dt.timedelta(seconds=2 * settings.LEADMGR_CALLBACK_MAX_AGE)
    if not services.callback_receipt_record(signature=signature, now=timezone.now(), keep=keep):
        return 409, {"error": E_REPLAY}
    runner = runner or Runner()
    result, call_id = _parse_result(body)
    if result is None:
        if call_id is not None:
            runner.handle_results(
                [CallResult(call_id, "failed", detail="Malformed result from the provider.")]
            )
        return 400, {"error": E_MALFORMED}
    opted_out = _opted_out(body)
    if opted_out is None:
        runner.handle_results([CallResult(call_id, "failed", detail="Malformed result from the provider.")])
        return 400, {"error": E_MALFORMED}
    verdict = runner.handle_results([result])[result.call_id]
    if opted_out and verdict in ("applied", "duplicate"):
        compliance_services.opt_out_call(call_id=result.call_id)
    if verdict == "unknown":
        return 404, {"error": E_UNKNOWN_CALL.format(call_id=call_id)}
    if verdict == "conflict":
        return 409, {"error": E_CONFLICT.format(call_id=call_id)}
    return 200, {"status": verdict}
