from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from campaigns.models import AssistantVariable, Campaign
from leadmgr.testing import make_assistant, make_campaign


def test_a_campaign_has_the_contract_defaults(db):
    campaign = make_campaign()
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.DRAFT
    assert campaign.max_retries == 3
    assert campaign.max_attempts == 4
    assert campaign.retry_interval == dt.timedelta(minutes=60)
    assert campaign.calling_days == [0, 1, 2, 3, 4]
    assert (campaign.window_start, campaign.window_end) == (dt.time(9), dt.time(17))
    assert campaign.calling_days_display == "Mon, Tue, Wed, Thu, Fri"


def test_the_calling_window_must_start_before_it_ends(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_campaign(window_start=dt.time(18), window_end=dt.time(9))


def test_the_retry_interval_must_be_positive(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_campaign(retry_interval=dt.timedelta(0))


@pytest.mark.parametrize("days", [[], [7], ["mon"], "0,1", [True]])
def test_calling_days_are_validated_with_a_clear_message(db, days):
    campaign = Campaign(name="x", assistant=make_assistant(), calling_days=days)
    with pytest.raises(ValidationError) as exc:
        campaign.full_clean()
    assert exc.value.message_dict["calling_days"] == [
        "Choose at least one calling day, each a weekday number from 0 (Monday) to 6 (Sunday)."
    ]


def test_variable_names_are_unique_per_assistant(db):
    assistant = make_assistant()
    with pytest.raises(IntegrityError), transaction.atomic():
        AssistantVariable.objects.create(assistant=assistant, name="customer_name")


@pytest.mark.parametrize("name", ["phone", "status", "secondary_1_phone", "1st", "has space"])
def test_variable_names_that_clash_with_csv_columns_or_are_malformed_are_refused(db, name):
    variable = AssistantVariable(assistant=make_assistant(), name=name)
    with pytest.raises(ValidationError) as exc:
        variable.full_clean()
    assert "name" in exc.value.message_dict
