from __future__ import annotations

import pytest

from webhooks import services

from .receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def fast_retries(settings):
    settings.LEADMGR_WEBHOOK_RETRY_DELAYS = [0.05, 0.1, 0.2]
    settings.LEADMGR_WEBHOOK_TIMEOUT = 2
    settings.LEADMGR_WEBHOOK_POLL = 0.02


def subscribe(url: str, events=("lead.created", "lead.status_changed", "call.ended", "import.finished")):
    return services.subscription_create(url=url, events=list(events))
