"""The legal calling-hours floor: the hours a number may be called, whatever its campaign says.

A number's hours are the intersection of its campaign's window, the site's floor (``CallingRules``,
08:00–21:00 every day by default) and the stricter hours of its region (``RegionRule``, the longest
prefix of the number that a rule names), all in the callee's local time. The verdict and the next
opening come from ``campaigns.windows`` (fail closed when a number's zones disagree); this module
only gives them hours that may differ per weekday (Texas: noon on Sundays).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from campaigns.windows import HORIZON_DAYS, Verdict, Window

from .models import CallingRules, RegionRule
from .selectors import site_rules

Hours = tuple[dt.time, dt.time] | None  # one weekday's hours (start inclusive, end exclusive)


@dataclass(frozen=True)
class WeekWindow:
    """Calling hours per weekday (index 0 = Monday; None: no calls that day), local time."""

    hours: tuple[Hours, ...]

    # The same rules as a campaign's window: open in every zone of the number, else the next
    # moment it is (the candidates are the zones' day starts, which ``openings`` gives per day).
    state = Window.state
    verdict = Window.verdict
    next_open = Window.next_open

    @classmethod
    def of(cls, days: Iterable[int], start: dt.time, end: dt.time) -> WeekWindow:
        days = set(days)
        return cls(tuple((start, end) if d in days else None for d in range(7)))

    def __and__(self, other: WeekWindow) -> WeekWindow:
        out: list[Hours] = []
        for mine, theirs in zip(self.hours, other.hours, strict=True):
            if mine is None or theirs is None:
                out.append(None)
                continue
            start, end = max(mine[0], theirs[0]), min(mine[1], theirs[1])
            out.append((start, end) if start < end else None)
        return WeekWindow(tuple(out))

    def open_in(self, zone: ZoneInfo, now: dt.datetime) -> bool:
        local = now.astimezone(zone)
        hours = self.hours[local.weekday()]
        return hours is not None and hours[0] <= local.time() < hours[1]

    def openings(self, zone: ZoneInfo, now: dt.datetime):
        day = now.astimezone(zone).date()
        for offset in range(HORIZON_DAYS):
            date = day + dt.timedelta(days=offset)
            hours = self.hours[date.weekday()]
            if hours is not None:
                # zoneinfo resolves a start inside a daylight-saving gap to the wall time after it.
                yield dt.datetime.combine(date, hours[0], tzinfo=zone).astimezone(dt.UTC)

    def wider_than(self, other: WeekWindow) -> bool:
        """Whether this window allows any moment ``other`` does not."""
        return (self & other) != self


def floor_window(rules: CallingRules) -> WeekWindow:
    return WeekWindow.of(rules.floor_days, rules.floor_start, rules.floor_end)


def region_windows(rules: Iterable[RegionRule]) -> dict[str, WeekWindow]:
    """prefix → its hours. Days no rule of a prefix names are closed; two rules naming one day
    (a prefix listed twice) both hold."""
    per_day: dict[str, list[list[Hours]]] = {}
    for rule in rules:
        for prefix in rule.prefix_list():
            days = per_day.setdefault(prefix, [[] for _ in range(7)])
            for d in rule.days:
                days[d].append((rule.start, rule.end))
    out = {}
    for prefix, days in per_day.items():
        hours: list[Hours] = []
        for spans in days:
            if not spans:
                hours.append(None)
                continue
            start, end = max(s for s, _ in spans), min(e for _, e in spans)
            hours.append((start, end) if start < end else None)
        out[prefix] = WeekWindow(tuple(hours))
    return out


class CallingHours:
    """A campaign's hours for each number: ``verdict(phone, now)`` like ``campaigns.windows.Window``."""

    def __init__(self, campaign_window: WeekWindow, floor: WeekWindow, regions: dict[str, WeekWindow]):
        self.base = campaign_window & floor
        self.regions = regions
        self.longest = max((len(p) for p in regions), default=0)
        self._by_prefix: dict[str | None, WeekWindow] = {None: self.base}

    def window_for(self, phone: str) -> WeekWindow:
        for k in range(min(self.longest, len(phone)), 1, -1):
            prefix = phone[:k]
            if prefix in self.regions:
                if prefix not in self._by_prefix:
                    self._by_prefix[prefix] = self.base & self.regions[prefix]
                return self._by_prefix[prefix]
        return self.base

    def verdict(self, phone: str, now: dt.datetime) -> Verdict:
        return self.window_for(phone).verdict(phone, now)


def calling_hours(campaign) -> CallingHours:
    """The hours the runner applies to a campaign's numbers (two small queries: rules, regions)."""
    return CallingHours(
        WeekWindow.of(campaign.calling_days, campaign.window_start, campaign.window_end),
        floor_window(site_rules()),
        region_windows(RegionRule.objects.all()),
    )


def campaign_exceeds_floor(campaign, rules: CallingRules | None = None) -> bool:
    """Whether the campaign's own window is wider than the legal floor (the page says so)."""
    own = WeekWindow.of(campaign.calling_days, campaign.window_start, campaign.window_end)
    return own.wider_than(floor_window(rules or site_rules()))
