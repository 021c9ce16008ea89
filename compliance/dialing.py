"""What the runner asks before every dial: may this number be called now, in this campaign?

``check(numbers, campaign, now)`` answers for a batch at once: one query for the do-not-call list
(``selectors.blocked_numbers``) and, when frequency caps are set, one query for the numbers' dials
of the last days across every campaign. The answer then follows the batch's own dials
(``dialled``), so two leads of one batch sharing a number cannot both pass a cap of one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from campaigns.models import Campaign
from leads.models import CallAttempt

from .models import CallingRules, CampaignCaps
from .selectors import blocked_numbers, site_rules
from .skips import DO_NOT_CALL, FREQUENCY_CAP, SKIP_OUTCOMES

DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class Caps:
    per_day: int | None = None
    per_week: int | None = None
    min_gap: dt.timedelta | None = None

    @property
    def any(self) -> bool:
        return self.per_day is not None or self.per_week is not None or bool(self.min_gap)

    @property
    def lookback(self) -> dt.timedelta:
        if self.per_week is not None:
            return max(WEEK, self.min_gap or WEEK)
        if self.per_day is not None:
            return max(DAY, self.min_gap or DAY)
        return self.min_gap or dt.timedelta(0)


def _stricter(a, b):
    values = [v for v in (a, b) if v is not None]
    return min(values) if values else None


def caps_for(campaign: Campaign | int, rules: CallingRules | None = None) -> Caps:
    """The site's caps, made stricter by the campaign's own (the lower value wins)."""
    rules = rules or site_rules()
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    own = CampaignCaps.objects.filter(campaign_id=campaign_id).first()
    if own is None:
        return Caps(rules.max_dials_per_day, rules.max_dials_per_week, rules.min_gap)
    return Caps(
        _stricter(rules.max_dials_per_day, own.max_dials_per_day),
        _stricter(rules.max_dials_per_week, own.max_dials_per_week),
        _stricter(rules.min_gap, own.min_gap),
    )


def allowed_at(times: list[dt.datetime], caps: Caps, now: dt.datetime) -> dt.datetime:
    """When a number with dials at ``times`` (newest first) may be dialled again (``now``: at once)."""
    at = now
    if caps.min_gap and times:
        at = max(at, times[0] + caps.min_gap)
    for limit, span in ((caps.per_day, DAY), (caps.per_week, WEEK)):
        if limit is None:
            continue
        recent = [t for t in times if t > now - span]
        if limit == 0:
            at = max(at, now + span)
        elif len(recent) >= limit:
            at = max(at, recent[limit - 1] + span)  # when the oldest dial that counts drops out
    return at


@dataclass(frozen=True)
class Refusal:
    reason: str  # DO_NOT_CALL or FREQUENCY_CAP
    until: dt.datetime | None = None  # a cap: when the number may be dialled again


@dataclass
class DialCheck:
    now: dt.datetime
    blocked: dict[str, str] = field(default_factory=dict)
    caps: Caps = field(default_factory=Caps)
    dials: dict[str, list[dt.datetime]] = field(default_factory=dict)  # newest first

    def refusal(self, number: str) -> Refusal | None:
        if number in self.blocked:
            return Refusal(DO_NOT_CALL)
        if self.caps.any:
            at = allowed_at(self.dials.get(number, []), self.caps, self.now)
            if at > self.now:
                return Refusal(FREQUENCY_CAP, at)
        return None

    def dialled(self, number: str) -> None:
        if self.caps.any:
            self.dials.setdefault(number, []).insert(0, self.now)


def check(numbers, campaign: Campaign | int, now: dt.datetime) -> DialCheck:
    numbers = list(dict.fromkeys(numbers))
    result = DialCheck(now=now, blocked=blocked_numbers(numbers, campaign), caps=caps_for(campaign))
    if result.caps.any and numbers:
        rows = (
            CallAttempt.objects.filter(phone__in=numbers, started_at__gt=now - result.caps.lookback)
            .exclude(outcome__in=SKIP_OUTCOMES)
            .order_by("-started_at")
            .values_list("phone", "started_at")
        )
        for phone, started_at in rows:
            result.dials.setdefault(phone, []).append(started_at)
    return result
