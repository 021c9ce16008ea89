"""One rule for variable names at every door, a cap on variables per lead, safe export headers."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns.models import E_VARIABLE_NAME, AssistantVariable, validate_variable_name
from leadmgr.testing import make_lead
from leads import variables as lead_variables
from leads.csv import columns, errors, exporter, importer
from leads.forms import VariableFormSet, formset_values
from leads.models import Lead

FORMULA = '=HYPERLINK("http://evil.example","x")'


@pytest.mark.parametrize("name", ["customer_name", "a", "Company2", "x" * 64])
def test_the_rule_accepts_names(name):
    validate_variable_name(name)


@pytest.mark.parametrize("name", [FORMULA, "_private", "2nd", "first name", "x" * 65, "name\n", "", "naïve"])
def test_the_rule_refuses_names(name):
    with pytest.raises(ValidationError) as caught:
        validate_variable_name(name)
    assert caught.value.messages == [E_VARIABLE_NAME]


def test_an_assistant_variable_definition_follows_the_rule(campaign):
    with pytest.raises(ValidationError) as caught:
        AssistantVariable(assistant=campaign.assistant, name=FORMULA, position=9).full_clean()
    assert E_VARIABLE_NAME in caught.value.message_dict["name"]


def _variable_rows(names: list[str], prefix: str = "vars") -> dict[str, str]:
    data = {f"{prefix}-TOTAL_FORMS": str(len(names)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, name in enumerate(names):
        data |= {f"{prefix}-{i}-name": name, f"{prefix}-{i}-value": "v"}
    return data


def test_the_lead_form_refuses_a_formula_name():
    formset = VariableFormSet(_variable_rows([FORMULA]), prefix="vars")
    assert not formset.is_valid()
    assert formset.forms[0].errors["name"] == [E_VARIABLE_NAME]


def test_the_lead_form_caps_the_variables(settings):
    settings.LEADMGR_MAX_VARIABLES_PER_LEAD = 2
    assert VariableFormSet(_variable_rows(["a", "b"]), prefix="vars").is_valid()
    formset = VariableFormSet(_variable_rows(["a", "b", "c"]), prefix="vars")
    assert not formset.is_valid()
    assert formset.non_form_errors() == [lead_variables.E_TOO_MANY_VARIABLES.format(limit=2, count=3)]


def test_a_removed_row_does_not_count_against_the_cap(settings):
    settings.LEADMGR_MAX_VARIABLES_PER_LEAD = 2
    data = _variable_rows(["a", "b", "c"]) | {"vars-2-DELETE": "on"}
    formset = VariableFormSet(data, prefix="vars")
    assert formset.is_valid()
    assert formset_values(formset) == {"a": "v", "b": "v"}


def test_the_lead_page_shows_the_cap(client, staff, campaign, settings):
    settings.LEADMGR_MAX_VARIABLES_PER_LEAD = 2
    client.force_login(staff)
    data = {"phone": "+14155550100", "campaign": campaign.pk, "contacts-TOTAL_FORMS": "0"}
    data |= {"contacts-INITIAL_FORMS": "0"} | _variable_rows(["customer_name", "company", "extra"])
    response = client.post(reverse("leads:create"), data)
    assert response.status_code == 200
    assert lead_variables.E_TOO_MANY_VARIABLES.format(limit=2, count=3) in response.content.decode()
    assert not Lead.objects.exists()


def _admin_add(campaign, variables: dict, contacts_variables: dict | None = None) -> dict:
    data = {
        "phone": "+14155550100",
        "campaign": campaign.pk,
        "variables": json.dumps(variables),
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    if contacts_variables is not None:
        data |= {
            "contacts-TOTAL_FORMS": "1",
            "contacts-0-phone": "+14155550101",
            "contacts-0-position": "0",
            "contacts-0-variables": json.dumps(contacts_variables),
        }
    return data


def test_the_admin_refuses_a_formula_variable_key(admin_client, campaign):
    response = admin_client.post(
        reverse("admin:leads_lead_add"), _admin_add(campaign, {"customer_name": "Sarah", FORMULA: "x"})
    )
    assert response.status_code == 200
    assert not Lead.objects.exists()
    assert "is not a variable name" in response.content.decode()


def test_the_admin_refuses_a_formula_key_on_a_contact(admin_client, campaign):
    response = admin_client.post(
        reverse("admin:leads_lead_add"), _admin_add(campaign, {"customer_name": "Sarah"}, {FORMULA: "x"})
    )
    assert response.status_code == 200
    assert not Lead.objects.exists()


def test_the_admin_caps_the_variables(admin_client, campaign, settings):
    settings.LEADMGR_MAX_VARIABLES_PER_LEAD = 2
    response = admin_client.post(
        reverse("admin:leads_lead_add"), _admin_add(campaign, {"customer_name": "S", "a": "1", "b": "2"})
    )
    assert response.status_code == 200
    assert lead_variables.E_TOO_MANY_VARIABLES.format(limit=2, count=3) in response.content.decode()
    assert not Lead.objects.exists()


def test_the_import_header_refuses_a_formula_column():
    with pytest.raises(errors.CSVFileError) as caught:
        columns.read_header(["phone", FORMULA])
    assert "is not a variable name" in caught.value.message


def test_the_import_header_refuses_a_bad_secondary_variable():
    with pytest.raises(errors.CSVFileError):
        columns.read_header(["phone", "secondary_1_phone", "secondary_1__x"])


def test_the_import_caps_variable_columns_before_reading_any_row(campaign, settings):
    settings.LEADMGR_MAX_VARIABLES_PER_LEAD = 200
    names = ["phone", *(f"v{i}" for i in range(10_000))]
    # A row that would fail if it were read: the header alone must refuse the file.
    body = ",".join(names) + "\r\nnot-a-phone\r\n"
    with pytest.raises(errors.CSVFileError) as caught:
        importer.import_leads(io.BytesIO(body.encode()), importer.ImportOptions(campaign=campaign))
    assert caught.value.message == errors.E_TOO_MANY_VARIABLE_COLUMNS.format(
        count=10_000, whose="", limit=200
    )
    assert not Lead.objects.exists()


def test_the_cap_counts_secondary_contact_variables_too(settings):
    settings.LEADMGR_MAX_VARIABLES_PER_LEAD = 1
    columns.read_header(["phone", "a", "secondary_1_phone", "secondary_1_b"])
    with pytest.raises(errors.CSVFileError) as caught:
        columns.read_header(["phone", "secondary_1_phone", "secondary_1_a", "secondary_1_b"])
    assert "for secondary contacts" in caught.value.message


def test_the_export_neutralises_header_cells(campaign):
    # A key stored before the rule (or around it): the export must still not write a formula.
    make_lead(campaign, variables={"customer_name": "Sarah", FORMULA: "x"})
    text = "".join(exporter.export_csv(Lead.objects.all()))
    header = next(csv.reader(io.StringIO(text)))
    assert "'" + FORMULA in header
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in header)


def test_the_table_filter_follows_the_rule(client, staff, campaign):
    make_lead(campaign, variables={"customer_name": "Sarah", "_private": "x"})
    client.force_login(staff)
    response = client.get("/leads/", {"var": "_private"})
    assert response.status_code == 200
    assert "Sarah" not in response.content.decode()
