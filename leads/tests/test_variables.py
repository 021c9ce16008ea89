from __future__ import annotations

import pytest

from leadmgr.testing import make_assistant
from leads import variables


@pytest.fixture
def assistant(db):
    return make_assistant(
        variables=[("customer_name", "", True), ("company", "Acme", True), ("industry", "Software", False)]
    )


def test_defaults_prefill_every_variable_in_order(assistant):
    assert variables.defaults(assistant) == {"customer_name": "", "company": "Acme", "industry": "Software"}


def test_effective_variables_layer_defaults_lead_and_contact_values(assistant):
    lead_values = {"customer_name": "John Smith", "role": "CEO", "industry": ""}
    contact_values = {"customer_name": "Jane Doe", "role": "CTO"}
    assert variables.effective(assistant, lead_values) == {
        "customer_name": "John Smith",
        "company": "Acme",
        "industry": "Software",  # an empty lead value does not hide the default
        "role": "CEO",
    }
    assert variables.effective(assistant, lead_values, contact_values) == {
        "customer_name": "Jane Doe",
        "company": "Acme",
        "industry": "Software",
        "role": "CTO",
    }


def test_required_check_names_what_is_missing_after_defaults(assistant):
    assert variables.missing_required(assistant, {}) == ["customer_name"]
    assert variables.missing_required(assistant, {"customer_name": "  "}) == ["customer_name"]
    assert variables.missing_required(assistant, {"customer_name": "Sarah", "company": ""}) == []


def test_move_check_errors_on_missing_required_and_warns_on_unknown(db, assistant):
    other = make_assistant(
        "Reminder", variables=[("customer_name", "", True), ("appointment_date", "", True)]
    )
    check = variables.check_move({"customer_name": "Sarah", "company": "Acme", "industry": "Retail"}, other)
    assert not check.ok
    assert check.missing == ["appointment_date"]
    assert check.unknown == ["company", "industry"]
    assert check.error == (
        "The new campaign's assistant requires variables this lead does not set: appointment_date."
    )
    assert check.warning == (
        "The new campaign's assistant does not use these variables (they are kept): company, industry."
    )


def test_move_check_passes_when_required_variables_are_set(db, assistant):
    check = variables.check_move({"customer_name": "Sarah", "company": "Acme"}, assistant)
    assert check.ok and check.error is None and check.warning is None


def test_render_message_fills_placeholders_and_flags_missing_ones():
    rendered = variables.render_message(
        "Hi {{ customer_name }}, about {{company}} and {{plan}}.", {"customer_name": "Sarah", "company": ""}
    )
    assert rendered.text == "Hi Sarah, about {{company}} and {{plan}}."
    assert rendered.missing == ["company", "plan"]


def test_required_check_agrees_with_missing_required(db):
    assistant = make_assistant(
        "Checker", variables=[("customer_name", "", True), ("clinic", "Greenleaf", True), ("note", "", False)]
    )
    check = variables.required_check(assistant)
    for values in [{}, None, {"customer_name": " "}, {"customer_name": "Ann"}, {"clinic": ""}, {"note": "x"}]:
        assert check(values) == variables.missing_required(assistant, values)
