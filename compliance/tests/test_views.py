"""The compliance pages: roles, the list's search/add/remove, import/export, opt-out, erasure, the log."""

from __future__ import annotations

import io

import pytest

from compliance import services
from compliance.models import DoNotCallEntry, Erasure, ExportRecord
from leadmgr.testing import make_campaign, make_lead
from leads.models import Lead

pytestmark = pytest.mark.django_db

A, B = "+14155550101", "+14155550102"


# Personas: leadmgr.testing (PERSONAS, as_persona).


def table(response) -> str:
    return response.content.decode().split('id="dnc-entries"')[1]


# persona → expected status for each page (anonymous: the sign-in redirect)
MATRIX = {
    "/compliance/do-not-call/": {
        "anonymous": 302,
        "outsider": 403,
        "operator": 403,
        "staff": 200,
        "admin": 200,
    },
    "/compliance/do-not-call/import/": {
        "anonymous": 302,
        "outsider": 403,
        "operator": 403,
        "staff": 200,
        "admin": 200,
    },
    "/compliance/do-not-call/export/": {
        "anonymous": 302,
        "outsider": 403,
        "operator": 403,
        "staff": 200,
        "admin": 200,
    },
    "/compliance/erase/": {"anonymous": 302, "outsider": 404, "operator": 404, "staff": 404, "admin": 200},
    "/compliance/exports/": {"anonymous": 302, "outsider": 404, "operator": 404, "staff": 404, "admin": 200},
}


@pytest.mark.parametrize("persona", ["anonymous", "outsider", "operator", "staff", "admin"])
@pytest.mark.parametrize("url", list(MATRIX))
def test_each_page_answers_each_role(as_persona, persona, url):
    assert as_persona(persona).get(url).status_code == MATRIX[url][persona]


@pytest.mark.parametrize(
    ("persona", "status"),
    [("anonymous", 302), ("outsider", 404), ("operator", 200), ("staff", 200), ("admin", 200)],
)
def test_the_opt_out_page_answers_each_role(as_persona, persona, status):
    lead = make_lead(make_campaign())
    assert as_persona(persona).get(f"/compliance/leads/{lead.pk}/opt-out/").status_code == status


@pytest.mark.parametrize("persona", ["operator", "outsider"])
def test_only_staff_change_the_list(as_persona, persona):
    entry = services.dnc_add(number=A)
    client = as_persona(persona)
    assert client.post("/compliance/do-not-call/add/", {"number": B}).status_code == 403
    assert client.post(f"/compliance/do-not-call/{entry.pk}/remove/", {"reason": "x"}).status_code == 403
    assert client.post("/compliance/do-not-call/import/").status_code == 403
    assert DoNotCallEntry.objects.filter(removed_at__isnull=True).count() == 1


def test_staff_add_search_and_remove_an_entry(as_persona, django_assert_num_queries):
    client = as_persona("staff")
    staff = as_persona.users["staff"]
    campaign = make_campaign()
    response = client.post(
        "/compliance/do-not-call/add/",
        {"number": "+1 415 555 0101", "scope": str(campaign.pk), "reason": "letter"},
    )
    assert response.status_code == 302
    entry = DoNotCallEntry.objects.get()
    assert (entry.number, entry.campaign, entry.reason, entry.added_by) == (A, campaign, "letter", staff)
    services.dnc_add(number=B)
    # Session, user, user permissions, group permissions, the page's entries (one more than a page),
    # the campaigns for the scope choices (search and add forms).
    with django_assert_num_queries(7):
        page = client.get("/compliance/do-not-call/", {"q": "0101"})
    assert A in table(page) and B not in table(page)
    assert client.post(f"/compliance/do-not-call/{entry.pk}/remove/", {"reason": ""}).status_code == 302
    entry.refresh_from_db()
    assert entry.removed_at is None  # no reason, no removal
    client.post(f"/compliance/do-not-call/{entry.pk}/remove/", {"reason": "mistake"})
    entry.refresh_from_db()
    assert (entry.removed_by, entry.removal_reason) == (staff, "mistake")
    assert A not in table(client.get("/compliance/do-not-call/"))
    assert A in table(client.get("/compliance/do-not-call/", {"removed": "1"}))


def test_a_bad_number_is_a_message_not_an_error(as_persona):
    client = as_persona("staff")
    response = client.post("/compliance/do-not-call/add/", {"number": "+1 555"}, follow=True)
    assert "is not a valid phone number" in response.content.decode()
    assert DoNotCallEntry.objects.count() == 0


def test_staff_import_strictly_with_line_numbers_then_skip_invalid(as_persona):
    client = as_persona("staff")
    body = b"phone,reason\n+14155550101,x\nnope\n"
    response = client.post("/compliance/do-not-call/import/", {"file": io.BytesIO(body)})
    assert response.status_code == 400
    assert "line 3, phone:" in response.content.decode()
    assert DoNotCallEntry.objects.count() == 0
    f = io.BytesIO(body)
    f.name = "dnc.csv"
    response = client.post("/compliance/do-not-call/import/", {"file": f, "skip_invalid": "on"})
    assert "2 rows: 1 added, 0 already listed, 1 rejected." in response.content.decode()
    assert list(DoNotCallEntry.objects.values_list("number", "source")) == [(A, "import")]


def test_staff_export_a_list(as_persona):
    services.dnc_add(number=A)
    response = as_persona("staff").get("/compliance/do-not-call/export/?scope=site")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().splitlines()[1].startswith(A)
    assert as_persona("staff").get("/compliance/do-not-call/export/?scope=999").status_code == 400


def test_an_operator_opts_a_lead_out_with_a_reason(as_persona):
    lead = make_lead(make_campaign(), phone=A, contacts=[B])
    client = as_persona("operator")
    page = client.get(f"/compliance/leads/{lead.pk}/opt-out/").content.decode()
    assert A in page and B in page
    response = client.post(f"/compliance/leads/{lead.pk}/opt-out/", {"numbers": [A, B], "reason": ""})
    assert response.status_code == 400
    response = client.post(
        f"/compliance/leads/{lead.pk}/opt-out/", {"numbers": [B], "reason": "asked on the call"}
    )
    assert response.status_code == 302
    entry = DoNotCallEntry.objects.get()
    assert (entry.number, entry.campaign, entry.source, entry.added_by) == (
        B,
        None,
        "opt_out",
        as_persona.users["operator"],
    )
    assert entry.reason == f"Lead {lead.pk}: asked on the call"
    assert "Opt out" in client.get(f"/leads/{lead.pk}/").content.decode()


def test_an_admin_erases_a_number_from_the_page(as_persona):
    make_lead(make_campaign(), phone=A)
    client = as_persona("admin")
    assert client.post("/compliance/erase/", {"number": A}).status_code == 400  # not confirmed
    assert Lead.objects.count() == 1
    response = client.post("/compliance/erase/", {"number": A, "confirm": "on"}, follow=True)
    assert "Erased: 1 lead(s) and 0 secondary contact(s) deleted" in response.content.decode()
    assert Lead.objects.count() == 0
    assert Erasure.objects.get().performed_by == as_persona.users["admin"]
    assert A not in response.content.decode()


def test_admins_see_the_export_log(as_persona, django_assert_num_queries):
    ExportRecord.objects.create(
        at="2026-01-01T00:00Z", channel="web", filters={"status": ["created"]}, rows=12
    )
    client = as_persona("admin")
    # Session, user, the page of records with their users.
    with django_assert_num_queries(3):
        page = client.get("/compliance/exports/").content.decode()
    assert "status=[&#x27;created&#x27;]" in page and "<td>12</td>" in page
