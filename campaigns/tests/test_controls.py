"""Steering a campaign (campaigns/controls.py): the states each action applies to, who may take it,
and the record of every change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from campaigns import controls
from campaigns.controls import Action, ControlRefused
from campaigns.models import Campaign, CampaignStateChange
from leadmgr.testing import make_campaign

State = Campaign.State
NOW = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)

# (action, from, to) for every allowed move; every other (action, from) is refused.
MOVES = [
    (Action.START, State.DRAFT, State.RUNNING),
    (Action.PAUSE, State.RUNNING, State.PAUSED),
    (Action.RESUME, State.PAUSED, State.RUNNING),
    (Action.FINISH, State.DRAFT, State.FINISHED),
    (Action.FINISH, State.RUNNING, State.FINISHED),
    (Action.FINISH, State.PAUSED, State.FINISHED),
]
ALLOWED = {(action, source) for action, source, _ in MOVES}
REFUSED = [(a, s) for a in Action for s in State if (a, s) not in ALLOWED]


@pytest.mark.parametrize(("action", "source", "target"), MOVES)
def test_each_allowed_move_changes_the_state_and_records_who_when_and_why(admin_user, action, source, target):
    campaign = make_campaign(state=source)
    change = controls.change_state(campaign, action, user=admin_user, reason="  weekly plan ", now=NOW)
    campaign.refresh_from_db()
    assert campaign.state == target
    assert (change.from_state, change.to_state, change.changed_by, change.reason, change.changed_at) == (
        source,
        target,
        admin_user,
        "weekly plan",
        NOW,
    )
    assert list(campaign.state_changes.all()) == [change]


@pytest.mark.parametrize(("action", "source"), REFUSED)
def test_every_other_move_is_refused_with_the_reason_and_changes_nothing(admin_user, action, source):
    campaign = make_campaign(name="Spring demo", state=source)
    with pytest.raises(ControlRefused) as refused:
        controls.change_state(campaign.pk, action, user=admin_user)
    assert refused.value.message.startswith(f"Spring demo is {State(source).label.lower()}: only a ")
    assert refused.value.state == source
    campaign.refresh_from_db()
    assert campaign.state == source
    assert not CampaignStateChange.objects.exists()


def test_the_refusal_names_the_states_the_action_needs(admin_user):
    campaign = make_campaign(name="Spring demo", state=State.FINISHED)
    with pytest.raises(ControlRefused, match=r"only a draft, paused or running campaign can be finished\."):
        controls.change_state(campaign, Action.FINISH, user=admin_user)
    with pytest.raises(ControlRefused, match=r"only a paused campaign can be resumed\."):
        controls.change_state(campaign, Action.RESUME, user=admin_user)


def test_an_unknown_campaign_raises_does_not_exist(admin_user):
    with pytest.raises(Campaign.DoesNotExist):
        controls.change_state(987654, Action.START, user=admin_user)


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("operator", {Action.START, Action.PAUSE, Action.RESUME}),
        ("staff", set(Action)),
        ("admin_user", set(Action)),
        ("outsider", set()),
    ],
)
def test_roles_decide_who_may_take_each_action(request, persona, allowed):
    user = request.getfixturevalue(persona)
    sources = {Action.START: State.DRAFT, Action.PAUSE: State.RUNNING, Action.RESUME: State.PAUSED}
    for action in Action:
        campaign = make_campaign(name=f"{persona} {action}", state=sources.get(action, State.RUNNING))
        assert controls.may(user, action) == (action in allowed)
        assert (action in controls.available_actions(campaign, user)) == (action in allowed)
        if action in allowed:
            controls.change_state(campaign, action, user=user)
        else:
            with pytest.raises(PermissionDenied):
                controls.change_state(campaign, action, user=user)
            campaign.refresh_from_db()
            assert campaign.state == sources.get(action, State.RUNNING)


def test_available_actions_follow_the_state(db):
    by_state = {s: controls.available_actions(make_campaign(name=s, state=s)) for s in State}
    assert by_state == {
        State.DRAFT: [Action.START, Action.FINISH],
        State.RUNNING: [Action.PAUSE, Action.FINISH],
        State.PAUSED: [Action.RESUME, Action.FINISH],
        State.FINISHED: [],
    }


def test_pause_all_pauses_every_running_campaign_and_only_those(staff):
    running = [make_campaign(name=f"Running {i}", state=State.RUNNING) for i in range(3)]
    others = {
        s: make_campaign(name=f"Other {s}", state=s) for s in (State.DRAFT, State.PAUSED, State.FINISHED)
    }
    changes = controls.pause_all(user=staff, reason="provider outage", now=NOW)
    assert sorted(c.campaign_id for c in changes) == sorted(c.pk for c in running)
    assert set(Campaign.objects.filter(pk__in=[c.pk for c in running]).values_list("state", flat=True)) == {
        State.PAUSED
    }
    for state, campaign in others.items():
        campaign.refresh_from_db()
        assert campaign.state == state
    assert {(c.changed_by, c.reason, c.from_state, c.to_state) for c in changes} == {
        (staff, "provider outage", State.RUNNING, State.PAUSED)
    }


def test_pause_all_is_for_staff_and_admins_only(operator):
    campaign = make_campaign(state=State.RUNNING)
    with pytest.raises(PermissionDenied):
        controls.pause_all(user=operator)
    campaign.refresh_from_db()
    assert campaign.state == State.RUNNING


def test_a_long_reason_is_cut_to_the_column(admin_user):
    change = controls.change_state(make_campaign(), Action.START, user=admin_user, reason="x" * 2000)
    assert len(change.reason) == controls.REASON_MAX_LENGTH
