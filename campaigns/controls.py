"""Steering a campaign: Start, Pause, Resume, Finish and Pause all.

The one service behind every door that changes a campaign's state (the campaign page, the API, the
admin): it checks the user's permission and the state the campaign is in, changes the state with a
conditional update (two operators pressing at once: one wins, the other is told why not), and records
who, when, from, to and why. The runner reads the state under the campaign row's lock at each claim
and before each further number, so a pause holds from the moment its transaction commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from .models import Campaign, CampaignStateChange

State = Campaign.State


class Action(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    FINISH = "finish"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    permission: str
    label: str  # the button
    done: str  # "… was started"


CONTROL = "campaigns.control_campaign"
FINISH = "campaigns.finish_campaign"
PAUSE_ALL = "campaigns.pause_all_campaigns"

TRANSITIONS: dict[Action, Transition] = {
    Action.START: Transition(frozenset({State.DRAFT}), State.RUNNING, CONTROL, "Start", "started"),
    Action.PAUSE: Transition(frozenset({State.RUNNING}), State.PAUSED, CONTROL, "Pause", "paused"),
    Action.RESUME: Transition(frozenset({State.PAUSED}), State.RUNNING, CONTROL, "Resume", "resumed"),
    Action.FINISH: Transition(
        frozenset({State.DRAFT, State.RUNNING, State.PAUSED}), State.FINISHED, FINISH, "Finish", "finished"
    ),
}

REASON_MAX_LENGTH = CampaignStateChange._meta.get_field("reason").max_length


class ControlRefused(Exception):
    """The campaign is not in a state the action applies to (a door answers 409 / a message)."""

    def __init__(self, message: str, *, state: str):
        super().__init__(message)
        self.message = message
        self.state = state


def may(user, action: Action) -> bool:
    return user.has_perm(TRANSITIONS[action].permission)


def available_actions(campaign: Campaign, user=None) -> list[Action]:
    """The actions the campaign's state allows (and, given a user, that the user may take)."""
    return [
        action
        for action, t in TRANSITIONS.items()
        if campaign.state in t.sources and (user is None or user.has_perm(t.permission))
    ]


def change_state(
    campaign: Campaign | int,
    action: Action | str,
    *,
    user,
    reason: str = "",
    now: dt.datetime | None = None,
) -> CampaignStateChange:
    """Apply ``action`` to the campaign and record it; raises PermissionDenied, ControlRefused, or
    Campaign.DoesNotExist. ``campaign`` may be an id; a Campaign instance is updated in place."""
    action = Action(action)
    t = TRANSITIONS[action]
    if not user.has_perm(t.permission):
        raise PermissionDenied(f"Your role cannot {action.value} campaigns.")
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    with transaction.atomic():
        change = _apply(pk, action, user=user, reason=reason, now=now or timezone.now())
    if isinstance(campaign, Campaign):
        campaign.state = t.target
    return change


def _apply(pk: int, action: Action, *, user, reason: str, now: dt.datetime) -> CampaignStateChange:
    """Inside a transaction: lock the campaign row, check its state, change it and record it."""
    t = TRANSITIONS[action]
    # NO KEY: the state change conflicts with the runner's claims and dials (they take the same
    # lock), not with the foreign-key checks of rows that reference the campaign.
    current = Campaign.objects.select_for_update(no_key=True).only("state", "name").get(pk=pk)
    if current.state not in t.sources:
        raise ControlRefused(refusal(current, action), state=current.state)
    Campaign.objects.filter(pk=pk).update(state=t.target, updated_at=now)
    return CampaignStateChange.objects.create(
        campaign_id=pk,
        from_state=current.state,
        to_state=t.target,
        changed_by_id=getattr(user, "pk", None),
        reason=(reason or "").strip()[:REASON_MAX_LENGTH],
        changed_at=now,
    )


def refusal(campaign: Campaign, action: Action) -> str:
    state = State(campaign.state).label.lower()
    names = [State(s).label.lower() for s in sorted(TRANSITIONS[action].sources)]
    allowed = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    return f"{campaign.name} is {state}: only a {allowed} campaign can be {TRANSITIONS[action].done}."


def pause_all(*, user, reason: str = "", now: dt.datetime | None = None) -> list[CampaignStateChange]:
    """Pause every running campaign at once (an emergency stop); returns the changes made."""
    if not user.has_perm(PAUSE_ALL):
        raise PermissionDenied("Your role cannot pause every campaign.")
    now = now or timezone.now()
    with transaction.atomic():
        running = Campaign.objects.select_for_update(no_key=True).filter(state=State.RUNNING).order_by("pk")
        return [
            _apply(pk, Action.PAUSE, user=user, reason=reason, now=now)
            for pk in running.values_list("pk", flat=True)
        ]
