"""The http provider's callback may say the callee opted out: the number dialled is listed."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.callbacks import E_MALFORMED
from campaigns.models import Campaign
from campaigns.tests.test_http_provider import open_call, post_result
from compliance.models import DoNotCallEntry
from compliance.selectors import blocked_numbers
from leadmgr.testing import make_campaign, make_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(settings, db):
    """A lead whose first call waits for its result at a real provider endpoint on 127.0.0.1."""
    from campaigns.tests import test_http_provider as provider_tests

    server = provider_tests.ProviderEndpoint()
    server.thread.start()
    settings.LEADMGR_PROVIDER = "http"
    settings.LEADMGR_PROVIDER_URL = server.url
    settings.LEADMGR_PROVIDER_SECRET = provider_tests.SECRET
    settings.LEADMGR_CALLBACK_BASE_URL = "https://leads.example.com"
    settings.LEADMGR_PROVIDER_TIMEOUT = 1
    campaign = make_campaign(
        state=Campaign.State.RUNNING,
        calling_days=[0, 1, 2, 3, 4, 5, 6],
        window_start=dt.time(0, 0),
        window_end=dt.time(23, 59, 59, 999999),
    )
    lead = make_lead(campaign)
    provider_tests.tick()
    yield lead
    server.server.shutdown()
    server.server.server_close()


def test_an_opted_out_result_lists_the_number_dialled(waiting, client):
    call = open_call(waiting)
    response = post_result(client, {"call_id": call.pk, "outcome": "completed", "opted_out": True})
    assert (response.status_code, response.json()) == (200, {"status": "applied"})
    entry = DoNotCallEntry.objects.get()
    assert (entry.number, entry.campaign, entry.source) == (waiting.phone, None, "opt_out")
    assert entry.reason == f"Asked not to be called again, on call {call.pk} (reported by the provider)."
    assert blocked_numbers([waiting.phone]) == {waiting.phone: "opt_out"}


def test_opted_out_false_lists_nothing(waiting, client):
    post_result(client, {"call_id": open_call(waiting).pk, "outcome": "no_answer", "opted_out": False})
    assert DoNotCallEntry.objects.count() == 0


def test_an_opted_out_flag_that_is_not_a_boolean_is_malformed(waiting, client):
    call = open_call(waiting)
    response = post_result(client, {"call_id": call.pk, "outcome": "completed", "opted_out": "yes"})
    assert (response.status_code, response.json()) == (400, {"error": E_MALFORMED})
    call.refresh_from_db()
    assert call.outcome == "failed"
    assert DoNotCallEntry.objects.count() == 0
