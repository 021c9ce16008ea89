from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaigns import checks
from campaigns.providers import get_provider
from campaigns.providers.http import HttpProvider
from campaigns.providers.simulated import E_MIX, SimulatedProvider, parse_mix

ROOT = Path(__file__).resolve().parents[2]


def ids(settings) -> list[str]:
    return [m.id for m in checks.check_provider_settings(None)]


def test_the_default_provider_is_simulated_and_configured_from_settings(settings):
    settings.LEADMGR_SIMULATED_MIX = "completed:1,busy:3"
    settings.LEADMGR_SIMULATED_SEED = 5
    provider = get_provider()
    assert isinstance(provider, SimulatedProvider)
    assert (provider.outcomes, provider.weights, provider.seed) == (["completed", "busy"], [1, 3], 5)
    assert ids(settings) == []


def test_the_http_provider_is_chosen_by_the_setting(settings):
    settings.LEADMGR_PROVIDER = "http"
    settings.LEADMGR_PROVIDER_URL = "https://calls.example.com/v1/calls"
    settings.LEADMGR_PROVIDER_SECRET = "s"
    settings.LEADMGR_PROVIDER_TIMEOUT = 7
    provider = get_provider()
    assert isinstance(provider, HttpProvider)
    assert (provider.url, provider.timeout) == ("https://calls.example.com/v1/calls", 7)


def test_http_without_url_or_secret_is_refused_by_the_checks(settings):
    settings.LEADMGR_PROVIDER = "http"
    settings.LEADMGR_PROVIDER_URL = ""
    settings.LEADMGR_PROVIDER_SECRET = ""
    settings.LEADMGR_CALLBACK_BASE_URL = "https://leads.example.com"
    assert ids(settings) == ["campaigns.E001", "campaigns.E002"]


def test_a_plain_http_callback_url_in_production_is_warned_about(settings):
    settings.DEBUG = False
    settings.LEADMGR_PROVIDER = "http"
    settings.LEADMGR_PROVIDER_URL = "https://calls.example.com"
    settings.LEADMGR_PROVIDER_SECRET = "s"
    settings.LEADMGR_CALLBACK_BASE_URL = "http://leads.example.com"
    assert ids(settings) == ["campaigns.W001"]


def test_a_lease_shorter_than_the_timeout_is_refused(settings):
    settings.LEADMGR_RUNNER_LEASE = 5
    settings.LEADMGR_PROVIDER_TIMEOUT = 10
    assert ids(settings) == ["campaigns.E004"]


@pytest.mark.parametrize("raw", ["completed", "completed:x", "ringing:3", "completed:0", "busy:1,busy:2", ""])
def test_a_malformed_outcome_mix_is_refused(raw):
    with pytest.raises(ValueError) as exc:
        parse_mix(raw)
    assert str(exc.value) == E_MIX.format(outcomes="completed, no_answer, busy, voicemail, failed", raw=raw)


def test_the_simulated_draw_is_reproducible_per_call():
    one = SimulatedProvider(mix={"completed": 1, "busy": 1}, seed=3, speedup=0)
    other = SimulatedProvider(mix={"completed": 1, "busy": 1}, seed=3, speedup=0)
    draws = [one.draw(n) for n in range(50)]
    assert draws == [other.draw(n) for n in range(50)]
    assert {outcome for outcome, _ in draws} == {"completed", "busy"}
    assert all(45 <= s <= 240 if o == "completed" else 2 <= s <= 6 for o, s in draws)


def test_an_unknown_provider_name_stops_start_up():
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "LEADMGR_PROVIDER": "carrier-pigeon"},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "LEADMGR_PROVIDER must be one of simulated, http; got 'carrier-pigeon'." in done.stderr
