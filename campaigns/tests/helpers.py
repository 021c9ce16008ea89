"""Runner test helpers: a fixed clock, simulated providers with a chosen outcome, lead lookups."""

from __future__ import annotations

import datetime as dt

from campaigns.providers.simulated import SimulatedProvider
from campaigns.runner import Runner

# Wednesday 25 November 2026, 18:00 UTC: 10:00 in San Francisco, 13:00 in New York.
NOW = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime = NOW):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


class ManualTime:
    """A monotonic clock for the simulated provider that moves only when told."""

    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def simulated(outcome: str = "completed", *, speedup: int = 0, clock=None, **mix) -> SimulatedProvider:
    return SimulatedProvider(
        mix=mix or {outcome: 1}, seed=7, speedup=speedup, **({"clock": clock} if clock else {})
    )


def runner(outcome: str = "completed", *, clock: Clock | None = None, provider=None) -> Runner:
    return Runner(provider or simulated(outcome), clock=clock or Clock())


def history(lead) -> list[tuple[str, str]]:
    return list(lead.history.order_by("at", "id").values_list("from_status", "to_status"))


def calls(lead) -> list[tuple[str, str, int]]:
    return list(lead.calls.order_by("started_at", "id").values_list("phone", "outcome", "attempt_number"))
