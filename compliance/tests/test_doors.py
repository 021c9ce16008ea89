"""Every door a lead comes in through asks compliance: the CSV import, the form, the services."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from compliance import services as compliance_services
from compliance.erasure import erase_number
from leadmgr.testing import make_campaign, make_lead
from leads import services
from leads.csv import importer
from leads.models import Lead

pytestmark = pytest.mark.django_db

A, B, C = "+14155550101", "+14155550102", "+14155550103"


def run(text: str, **options) -> importer.ImportResult:
    return importer.import_leads(io.BytesIO(text.encode()), importer.ImportOptions(**options))


def test_the_import_skips_listed_primaries_apart_from_invalid_rows_even_when_strict(campaign):
    compliance_services.dnc_add(number=A)
    compliance_services.dnc_add(number=B, campaign=campaign)
    result = run(f"phone,customer_name\n{A},x\n{B},y\n{C},z\n", campaign=campaign)
    assert result.written is True
    assert (result.created, result.rejected_count, result.counts["do_not_call"]) == (1, 0, 2)
    assert [(e.line, e.column, e.message) for r in result.do_not_call for e in r.errors] == [
        (2, "phone", f"{A} is on the do-not-call list."),
        (3, "phone", f"{B} is on the do-not-call list."),
    ]
    assert list(Lead.objects.values_list("phone", flat=True)) == [C]
    assert "2 skipped: on the do-not-call list." in result.summary()


def test_the_import_refuses_an_erased_number_with_a_clear_reason(campaign):
    make_lead(campaign, phone=A)
    erase_number(number=A)
    result = run(f"phone,customer_name\n{A},x\n", campaign=campaign, dry_run=True)
    assert [e.message for r in result.do_not_call for e in r.errors] == [
        f"{A} is erased on request: this number may not be added again."
    ]


def test_the_preview_tells_which_numbers_are_leads_in_another_campaign(campaign):
    other = make_campaign("Autumn")
    lead = make_lead(other, phone=A)
    result = run(f"phone,customer_name\n{A},x\n{C},y\n", campaign=campaign, dry_run=True)
    assert result.elsewhere == [(2, A, "Autumn", lead.pk)]
    assert result.created == 2  # information, not an error


def test_import_leads_prints_the_listed_rows(campaign, tmp_path, capsys):
    compliance_services.dnc_add(number=A)
    path = tmp_path / "leads.csv"
    path.write_text(f"phone,customer_name\n{A},x\n{C},y\n")
    call_command("import_leads", str(path), "--campaign", campaign.name)
    out = capsys.readouterr().out
    assert f"{path}:2: [phone] {A} is on the do-not-call list. Skipped." in out


def test_the_services_refuse_an_erased_primary_or_contact_but_not_a_listed_one(campaign):
    make_lead(campaign, phone=A)
    erase_number(number=A)
    compliance_services.dnc_add(number=B)
    with pytest.raises(ValidationError) as exc:
        services.lead_create(campaign=campaign, phone=A, variables={"customer_name": "x"})
    assert exc.value.message_dict == {"phone": [f"{A} was erased on request: it may not be added again."]}
    with pytest.raises(ValidationError) as exc:
        services.lead_create(
            campaign=campaign,
            phone=C,
            variables={"customer_name": "x"},
            contacts=[services.ContactInput(phone=A)],
        )
    assert exc.value.message_dict == {
        "contacts-0": [f"{A} was erased on request: it may not be added again."]
    }
    assert services.lead_create(campaign=campaign, phone=B, variables={"customer_name": "x"}).lead.phone == B


def test_the_lead_form_warns_of_a_listed_number_and_a_lead_elsewhere(
    client, operator, campaign, django_assert_num_queries
):
    other = make_campaign("Autumn")
    lead = make_lead(other, phone=A)
    compliance_services.dnc_add(number=A)
    client.force_login(operator)
    # Session, user, user permissions, group permissions, the do-not-call probe, the campaigns and
    # the leads with that phone in any of them.
    with django_assert_num_queries(7):
        html = client.get(
            "/compliance/phone-check/", {"phone": "+1 415 555 0101", "campaign": campaign.pk}
        ).content.decode()
    assert "is on the do-not-call list: the lead can be saved, but this number will never be dialled" in html
    assert f'href="/leads/{lead.pk}/">Autumn</a>' in html
    html = client.get("/compliance/phone-check/", {"phone": C, "campaign": campaign.pk}).content.decode()
    assert html.strip() == ""
    assert client.get("/compliance/phone-check/", {"phone": "nonsense"}).status_code == 200
    assert 'id="phone-check"' in client.get("/leads/new/").content.decode()


def test_the_phone_check_needs_a_lead_permission(client, outsider):
    client.force_login(outsider)
    assert client.get("/compliance/phone-check/", {"phone": A}).status_code == 403
