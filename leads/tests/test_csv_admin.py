"""The Django admin's import and export of leads: the leads.csv rules and format, permissions enforced."""

from __future__ import annotations

import csv
import io

from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from leadmgr.testing import make_lead, make_user
from leads import phones
from leads.models import Lead

P1, P2 = "+14155550100", "+14155550101"


def admin_upload(client, text: str):
    return client.post(
        "/admin/leads/lead/import/",
        {"import_file": SimpleUploadedFile("leads.csv", text.encode("utf-8"), "text/csv"), "format": "0"},
    )


def test_the_admin_import_checks_rows_with_the_csv_importer_and_writes_nothing_before_confirm(
    client, admin_user, campaign
):
    client.force_login(admin_user)
    response = admin_upload(client, "phone,campaign,customer_name\n+1415,Spring,A\n")
    assert response.status_code == 200
    result = response.context["result"]
    [invalid] = result.invalid_rows
    assert invalid.number == 2
    assert invalid.error_dict == {"phone": ["line 2: " + phones.E_PHONE_INVALID.format(value="+1415")]}
    assert "confirm_form" not in response.context
    assert not Lead.objects.exists()


def test_the_admin_import_confirms_and_writes_the_rows(client, admin_user, campaign):
    client.force_login(admin_user)
    response = admin_upload(
        client, f"phone,campaign,customer_name,secondary_1_phone\n{P1},Spring,Sarah,{P2}\n"
    )
    assert not Lead.objects.exists()
    confirm = response.context["confirm_form"]
    data = {name: confirm.initial.get(name, "") for name in confirm.fields}
    response = client.post("/admin/leads/lead/process_import/", data)
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.phone, lead.variables, [c.phone for c in lead.contacts.all()]) == (
        P1,
        {"customer_name": "Sarah"},
        [P2],
    )


def test_the_admin_export_writes_the_contract_format(client, admin_user, campaign):
    make_lead(campaign, phone=P1, contacts=[P2], variables={"customer_name": "=Sarah"})
    client.force_login(admin_user)
    response = client.get("/admin/leads/lead/export/")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert [(r["phone"], r["customer_name"], r["secondary_1_phone"]) for r in rows] == [(P1, "'=Sarah", P2)]


def test_the_admin_import_and_export_need_their_permissions(client, campaign):
    user = make_user("clerk")
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_lead", "add_lead", "change_lead"])
    )
    client.force_login(user)
    assert client.get("/admin/leads/lead/import/").status_code == 403
    assert client.get("/admin/leads/lead/export/").status_code == 403
    user.user_permissions.add(*Permission.objects.filter(codename__in=["import_lead", "export_lead"]))
    assert client.get("/admin/leads/lead/import/").status_code == 200
    assert client.get("/admin/leads/lead/export/").status_code == 200
