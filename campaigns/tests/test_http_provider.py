"""The http provider against a real local HTTP server, and its callback on the real endpoint."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from campaigns.callbacks import E_CONFLICT, E_MALFORMED, E_REPLAY, E_UNKNOWN_CALL
from campaigns.models import Campaign
from campaigns.providers import get_provider, signing
from campaigns.providers.http import E_MALFORMED as E_BAD_ANSWER
from campaigns.runner import Runner
from leadmgr.testing import ALL_DAY, make_campaign, make_lead, next_phone
from leads.models import CallAttempt, Lead, Status

from .helpers import Clock, calls, history

SECRET = "test-provider-secret"
CALLBACK = "/campaigns/callbacks/http/"


class ProviderEndpoint:
    """A provider's call endpoint on 127.0.0.1 at a random port; answers the way ``mode`` says."""

    def __init__(self):
        self.requests: list[tuple[dict, dict]] = []  # (headers, JSON body)
        self.mode = "accept"
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.requests.append((dict(self.headers), json.loads(body), body))
                if endpoint.mode == "slow":
                    time.sleep(2)
                if endpoint.mode == "5xx":
                    return self.answer(503, b'{"error": "overloaded"}')
                if endpoint.mode == "malformed":
                    return self.answer(200, b"<html>not json</html>")
                self.answer(202, json.dumps({"provider_ref": f"ref-{len(endpoint.requests)}"}).encode())

            def answer(self, status, body):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/calls"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def payloads(self) -> list[dict]:
        return [payload for _, payload, _ in self.requests]


@pytest.fixture
def endpoint(settings):
    server = ProviderEndpoint()
    server.thread.start()
    settings.LEADMGR_PROVIDER = "http"
    settings.LEADMGR_PROVIDER_URL = server.url
    settings.LEADMGR_PROVIDER_SECRET = SECRET
    settings.LEADMGR_CALLBACK_BASE_URL = "https://leads.example.com"
    settings.LEADMGR_PROVIDER_TIMEOUT = 1
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def campaign(any_hour) -> Campaign:
    # Open at every hour, the legal floor too: callbacks continue with the real clock.
    return make_campaign(state=Campaign.State.RUNNING, retry_interval=dt.timedelta(minutes=30), **ALL_DAY)


def tick():
    return Runner(get_provider(), clock=Clock()).tick()


def post_result(
    client: Client, payload, *, timestamp: int | None = None, secret: str = SECRET, signature=None
):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        signing.TIMESTAMP_HEADER: str(timestamp),
        signing.SIGNATURE_HEADER: signature or signing.sign(secret, timestamp, body),
    }
    return client.post(CALLBACK, data=body, content_type="application/json", headers=headers)


def open_call(lead) -> CallAttempt:
    return lead.calls.get(outcome="")


# --- placing calls -----------------------------------------------------------------------------------


def test_a_call_request_carries_the_numbers_the_contacts_variables_the_message_and_a_signature(
    endpoint, campaign, client
):
    contact_phone = next_phone()
    lead = make_lead(campaign, variables={"customer_name": "Sarah Johnson"})
    lead.contacts.create(
        phone=contact_phone, position=0, variables={"customer_name": "Jane Doe", "role": "CTO"}
    )
    tick()
    (headers, payload, raw) = endpoint.requests[0]
    call = open_call(lead)
    assert payload == {
        "call_id": call.pk,
        "lead_id": lead.pk,
        "attempt": 1,
        "to": lead.phone,
        "numbers": [lead.phone, contact_phone],
        "contact_index": 0,
        "variables": {"customer_name": "Sarah Johnson", "company": "Acme"},
        "message": "Hi Sarah Johnson from Acme.",
        "campaign": "Spring",
        "assistant": "Sales Qualifier",
        "callback_url": "https://leads.example.com/campaigns/callbacks/http/",
    }
    signing.verify(
        SECRET,
        headers[signing.TIMESTAMP_HEADER],
        headers[signing.SIGNATURE_HEADER],
        raw,
        now=time.time(),
        max_age=60,
    )
    assert (call.provider, call.provider_ref, Lead.objects.get(pk=lead.pk).status) == (
        "http",
        "ref-1",
        "processing",
    )

    # The primary was busy: the callback goes on with the secondary contact, its own variables on top.
    assert post_result(client, {"call_id": call.pk, "outcome": "busy"}).json() == {"status": "applied"}
    second = endpoint.payloads[1]
    assert (second["to"], second["contact_index"], second["variables"], second["message"]) == (
        contact_phone,
        1,
        {"customer_name": "Jane Doe", "company": "Acme", "role": "CTO"},
        "Hi Jane Doe from Acme.",
    )
    second_call = open_call(lead)
    response = post_result(
        client, {"call_id": second_call.pk, "outcome": "completed", "provider_ref": "final-2"}
    )
    assert (response.status_code, response.json()) == (200, {"status": "applied"})
    lead.refresh_from_db()
    assert lead.status == Status.COMPLETED
    assert calls(lead) == [(lead.phone, "busy", 1), (contact_phone, "completed", 1)]
    assert lead.calls.last().provider_ref == "final-2"


def test_a_failed_call_reported_by_callback_reschedules_per_policy(endpoint, campaign, client):
    lead = make_lead(campaign)
    tick()
    before = dt.datetime.now(dt.UTC)
    post_result(client, {"call_id": open_call(lead).pk, "outcome": "voicemail", "detail": "left a message"})
    lead.refresh_from_db()
    assert lead.status == Status.RESCHEDULED
    assert before + dt.timedelta(minutes=30) <= lead.next_attempt_at <= before + dt.timedelta(minutes=31)
    assert lead.calls.get().detail == "left a message"
    assert history(lead) == [("created", "processing"), ("processing", "rescheduled")]


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("5xx", "The provider answered HTTP 503."),
        ("malformed", E_BAD_ANSWER),
        ("slow", "The provider did not answer within 1 s."),
    ],
)
def test_a_call_the_provider_does_not_take_fails_cleanly_and_the_next_number_is_tried(
    endpoint, campaign, mode, detail
):
    endpoint.mode = mode
    lead = make_lead(campaign, contacts=[next_phone()])
    tick()
    lead.refresh_from_db()
    assert [(c.outcome, c.detail) for c in lead.calls.order_by("id")] == [
        ("failed", detail),
        ("failed", detail),
    ]
    assert len(endpoint.requests) == 2
    assert (lead.status, lead.attempts) == (Status.RESCHEDULED, 1)
    assert lead.next_attempt_at == Clock().now + dt.timedelta(minutes=30)


def test_an_unreachable_provider_fails_the_call(endpoint, campaign, settings):
    settings.LEADMGR_PROVIDER_URL = "http://127.0.0.1:9/calls"  # the discard port: nobody listens
    lead = make_lead(campaign)
    tick()
    call = lead.calls.get()
    assert call.outcome == "failed"
    assert call.detail.startswith("The provider could not be reached")
    assert Lead.objects.get(pk=lead.pk).status == Status.RESCHEDULED


# --- the callback endpoint -----------------------------------------------------------------------------


@pytest.fixture
def waiting(endpoint, campaign) -> Lead:
    lead = make_lead(campaign)
    tick()
    return lead


def test_the_callback_needs_no_sign_in_and_no_csrf_token(waiting):
    client = Client(enforce_csrf_checks=True)
    response = post_result(client, {"call_id": open_call(waiting).pk, "outcome": "completed"})
    assert response.status_code == 200
    assert Lead.objects.get(pk=waiting.pk).status == Status.COMPLETED


def test_a_bad_signature_is_refused_and_changes_nothing(waiting, client):
    response = post_result(client, {"call_id": open_call(waiting).pk, "outcome": "completed"}, secret="wrong")
    assert (response.status_code, response.json()) == (401, {"error": signing.E_BAD_SIGNATURE})
    assert Lead.objects.get(pk=waiting.pk).status == Status.PROCESSING


def test_a_missing_signature_is_refused(waiting, client):
    response = client.post(CALLBACK, data=b"{}", content_type="application/json")
    assert (response.status_code, response.json()) == (401, {"error": signing.E_MISSING})


def test_a_stale_timestamp_is_refused(waiting, client, settings):
    old = int(time.time()) - settings.LEADMGR_CALLBACK_MAX_AGE - 5
    response = post_result(client, {"call_id": open_call(waiting).pk, "outcome": "completed"}, timestamp=old)
    assert (response.status_code, response.json()) == (401, {"error": signing.E_STALE.format(max_age=300)})
    assert Lead.objects.get(pk=waiting.pk).status == Status.PROCESSING


def test_a_replayed_request_is_refused(waiting, client):
    body = json.dumps({"call_id": open_call(waiting).pk, "outcome": "no_answer"}).encode()
    stamp = int(time.time())
    signature = signing.sign(SECRET, stamp, body)
    assert post_result(client, body, timestamp=stamp, signature=signature).status_code == 200
    response = post_result(client, body, timestamp=stamp, signature=signature)
    assert (response.status_code, response.json()) == (409, {"error": E_REPLAY})


def test_a_repeated_delivery_of_the_same_result_is_accepted_once(waiting, client):
    result = {"call_id": open_call(waiting).pk, "outcome": "completed"}
    assert post_result(client, result).json() == {"status": "applied"}
    again = post_result(client, result, timestamp=int(time.time()) + 1)  # freshly signed redelivery
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert history(waiting) == [("created", "processing"), ("processing", "completed")]
    assert waiting.calls.count() == 1


def test_a_conflicting_result_for_an_ended_call_is_refused(waiting, client):
    call = open_call(waiting)
    post_result(client, {"call_id": call.pk, "outcome": "completed"})
    response = post_result(client, {"call_id": call.pk, "outcome": "busy"})
    assert (response.status_code, response.json()) == (409, {"error": E_CONFLICT.format(call_id=call.pk)})
    assert Lead.objects.get(pk=waiting.pk).status == Status.COMPLETED


def test_a_result_for_an_unknown_call_is_refused(waiting, client):
    response = post_result(client, {"call_id": 999_999, "outcome": "completed"})
    assert (response.status_code, response.json()) == (404, {"error": E_UNKNOWN_CALL.format(call_id=999_999)})


def test_a_malformed_result_for_a_waiting_call_fails_the_call_and_the_lead_is_retried(waiting, client):
    call = open_call(waiting)
    response = post_result(client, {"call_id": call.pk, "outcome": "exploded"})
    assert (response.status_code, response.json()) == (400, {"error": E_MALFORMED})
    call.refresh_from_db()
    assert (call.outcome, call.detail) == ("failed", "Malformed result from the provider.")
    assert Lead.objects.get(pk=waiting.pk).status == Status.RESCHEDULED


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"call_id": "7", "outcome": "completed"}'])
def test_a_result_that_names_no_call_is_refused_and_changes_nothing(waiting, client, body):
    response = post_result(client, body)
    assert (response.status_code, response.json()) == (400, {"error": E_MALFORMED})
    assert Lead.objects.get(pk=waiting.pk).status == Status.PROCESSING


def test_the_callback_accepts_only_post(client, db):
    assert client.get(CALLBACK).status_code == 405


# --- extreme callbacks (issue 11): 400 or recorded, never 500 --------------------------------------


@pytest.fixture
def lenient_client(client):
    client.raise_request_exception = False  # a 500 is an answer to assert on
    return client


@pytest.mark.parametrize("call_id", [2**63, 2**64, 10**100, 0, -1, -(2**63) - 1])
def test_a_call_id_outside_the_database_range_is_malformed(waiting, lenient_client, call_id):
    response = post_result(lenient_client, {"call_id": call_id, "outcome": "completed"})
    assert (response.status_code, response.json()) == (400, {"error": E_MALFORMED})
    assert Lead.objects.get(pk=waiting.pk).status == Status.PROCESSING


@pytest.mark.parametrize("body", [b"[" * 10_000, b'{"call_id": 1, "detail": ' + b"[" * 10_000, b"{" * 10_000])
def test_a_deeply_nested_body_is_malformed(waiting, lenient_client, body):
    response = post_result(lenient_client, body)
    assert (response.status_code, response.json()) == (400, {"error": E_MALFORMED})
    assert Lead.objects.get(pk=waiting.pk).status == Status.PROCESSING


@pytest.mark.parametrize("field", ["detail", "provider_ref"])
@pytest.mark.parametrize("bad", ["\x00", "\ud800"])
def test_nul_and_lone_surrogates_in_the_texts_are_replaced_and_the_result_recorded(
    waiting, lenient_client, field, bad
):
    call = open_call(waiting)
    result = {"call_id": call.pk, "outcome": "completed", field: f"a{bad}b"}
    response = post_result(lenient_client, json.dumps(result).encode())
    assert (response.status_code, response.json()) == (200, {"status": "applied"})
    call.refresh_from_db()
    assert getattr(call, field) == "a\ufffdb"
    assert Lead.objects.get(pk=waiting.pk).status == Status.COMPLETED


def test_a_signature_with_non_ascii_characters_is_refused(waiting, lenient_client):
    body = json.dumps({"call_id": open_call(waiting).pk, "outcome": "completed"}).encode()
    response = post_result(lenient_client, body, signature="sha256=\u00e9\u00e9")
    assert (response.status_code, response.json()) == (401, {"error": signing.E_BAD_SIGNATURE})


def test_a_huge_signed_timestamp_is_stale_not_an_error(waiting, lenient_client):
    body = json.dumps({"call_id": open_call(waiting).pk, "outcome": "completed"}).encode()
    response = post_result(lenient_client, body, timestamp=10**400)
    assert response.status_code == 401
    assert Lead.objects.get(pk=waiting.pk).status == Status.PROCESSING
