"""A pause that commits between the runner's claim and its dial: no dial is recorded after it."""

from __future__ import annotations

import pytest

from campaigns import controls
from campaigns.dialplan import Step
from campaigns.models import Campaign
from campaigns.runner import TickReport
from leadmgr.testing import make_campaign, make_lead
from leads.models import CallAttempt, Status

from .helpers import runner

pytestmark = pytest.mark.django_db


def test_leads_claimed_before_a_pause_are_not_dialled_after_it_and_go_back_uncounted(admin_user):
    campaign = make_campaign(state=Campaign.State.RUNNING, calling_days=[0, 1, 2, 3, 4, 5, 6])
    leads = [make_lead(campaign) for _ in range(3)]
    worker = runner("completed")
    report = TickReport()
    want, claims = worker._claim(campaign, report)
    assert len(claims) == 3
    worker.hold((c.lead_id, c.attempt) for c in claims)
    controls.change_state(campaign.pk, controls.Action.PAUSE, user=admin_user, reason="stop now")
    worker._dial([Step(c.lead_id, c.attempt, campaign_id=campaign.pk) for c in claims], report)
    assert report.dials == 0
    assert not CallAttempt.objects.exists()
    for lead in leads:
        lead.refresh_from_db()
        assert (lead.status, lead.attempts) == (Status.RESCHEDULED, 0)
    assert worker.held() == {}


def test_a_lead_missing_a_required_variable_is_skipped_with_the_reason_not_dialled(db):
    from campaigns.models import RunnerDecision
    from campaigns.runner import MISSING_VARIABLE_RECHECK
    from leadmgr.testing import make_assistant

    from .helpers import NOW

    assistant = make_assistant(
        "Strict",
        variables=[("customer_name", "", True), ("company", "Acme", True)],
        template="Hi {{customer_name}}",
    )
    campaign = make_campaign(state=Campaign.State.RUNNING, assistant=assistant)
    lacking = make_lead(campaign, variables={"customer_name": " "})
    ready = make_lead(campaign, variables={"customer_name": "Sarah"})
    report = runner("completed").tick()
    lacking.refresh_from_db()
    ready.refresh_from_db()
    assert (report.claimed, report.dials) == (1, 1)
    assert ready.status == Status.COMPLETED
    assert (lacking.status, lacking.attempts, lacking.next_attempt_at) == (
        Status.CREATED,
        0,
        NOW + MISSING_VARIABLE_RECHECK,
    )
    assert not lacking.calls.exists()
    decision = RunnerDecision.objects.get(campaign=campaign)
    assert (decision.reason, decision.leads) == (RunnerDecision.Reason.MISSING_VARIABLE, 1)
