"""Calling windows in the callee's local time, from the number's time zones (phonenumbers).

A number may map to several time zones (an area code across a zone line, a country-wide mobile
range). We call only when the window is open in every one of them (fail closed) and otherwise
compute the next moment when it is open in all of them.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

# How far ahead the next opening is looked for: a week covers every weekday set.
HORIZON_DAYS = 8
# When no opening exists within the horizon (zones that are never open together): look again then.
NO_OPENING_RETRY = dt.timedelta(days=1)


class WindowState(enum.StrEnum):
    OPEN = "open"
    OUTSIDE = "outside_window"  # the same values as RunnerDecision.Reason
    AMBIGUOUS = "tz_ambiguous"


@dataclass(frozen=True)
class Verdict:
    state: WindowState
    next_open: dt.datetime | None = None  # when not OPEN: the next time to try this number

    @property
    def open(self) -> bool:
        return self.state is WindowState.OPEN


@lru_cache(maxsize=65_536)
def zones_for(phone: str) -> tuple[ZoneInfo, ...]:
    """The time zones of an E.164 number; () when phonenumbers cannot tell."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = []
    for name in pn_timezone.time_zones_for_number(number):
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):  # "Etc/Unknown"
            return ()
    return tuple(zones)


@dataclass(frozen=True)
class Window:
    days: frozenset[int]
    start: dt.time
    end: dt.time

    @classmethod
    def of(cls, campaign) -> Window:
        return cls(frozenset(campaign.calling_days), campaign.window_start, campaign.window_end)

    def open_in(self, zone: ZoneInfo, now: dt.datetime) -> bool:
        local = now.astimezone(zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def openings(self, zone: ZoneInfo, now: dt.datetime):
        """Window starts in ``zone`` from the local day of ``now`` on, as aware UTC datetimes."""
        day = now.astimezone(zone).date()
        for offset in range(HORIZON_DAYS):
            date = day + dt.timedelta(days=offset)
            if date.weekday() in self.days:
                # zoneinfo resolves a start inside a daylight-saving gap to the wall time after it.
                yield dt.datetime.combine(date, self.start, tzinfo=zone).astimezone(dt.UTC)

    def state(self, zones: tuple[ZoneInfo, ...], now: dt.datetime) -> WindowState:
        """Open in every zone, in none (outside), or in some only or no zone known (ambiguous)."""
        if not zones:
            return WindowState.AMBIGUOUS
        inside = [self.open_in(zone, now) for zone in zones]
        if all(inside):
            return WindowState.OPEN
        return WindowState.AMBIGUOUS if any(inside) else WindowState.OUTSIDE

    def verdict(self, phone: str, now: dt.datetime) -> Verdict:
        zones = zones_for(phone)
        state = self.state(zones, now)
        if state is WindowState.OPEN:
            return Verdict(state)
        if not zones:
            return Verdict(state, now + NO_OPENING_RETRY)
        return Verdict(state, self.next_open(zones, now))

    def next_open(self, zones: tuple[ZoneInfo, ...], now: dt.datetime) -> dt.datetime:
        """The first moment after ``now`` when the window is open in every zone.

        The overlap of the zones' windows always begins at one zone's window start, so only those
        instants need checking.
        """
        candidates = sorted({at for zone in zones for at in self.openings(zone, now) if at > now})
        for at in candidates:
            if all(self.open_in(zone, at) for zone in zones):
                return at
        return now + NO_OPENING_RETRY
