"""The role matrix: every URL and action for anonymous, outsider, operator, staff and admin."""

from __future__ import annotations

import pytest

from leadmgr.testing import PERSONAS
from leads.models import Lead

# Personas: leadmgr.testing (PERSONAS, as_persona).


def lead_form_post(lead) -> dict:
    return {
        "phone": lead.phone,
        "campaign": lead.campaign_id,
        "vars-TOTAL_FORMS": "1",
        "vars-INITIAL_FORMS": "0",
        "vars-0-name": "customer_name",
        "vars-0-value": "Sarah Johnson",
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
    }


# (method, url, data) → expected status for outsider, operator, staff, admin. Anonymous always
# goes to the sign-in page. 404: the outsider may not know the lead or campaign exists.
PAGES = [
    ("get", "/leads/", None, (403, 200, 200, 200)),
    ("get", "/leads/count/", None, (403, 200, 200, 200)),
    ("get", "/leads/new/", None, (403, 200, 200, 200)),
    ("get", "/leads/form/variables/?campaign={campaign}", None, (403, 200, 200, 200)),
    ("get", "/leads/{lead}/", None, (404, 200, 200, 200)),
    ("get", "/leads/{lead}/edit/", None, (404, 200, 200, 200)),
    ("get", "/leads/delete/?pk={lead}", None, (403, 403, 200, 200)),
    ("get", "/leads/status/?pk={lead}", None, (403, 200, 200, 200)),
    ("get", "/campaigns/", None, (403, 200, 200, 200)),
    ("get", "/campaigns/{campaign}/", None, (404, 200, 200, 200)),
    ("get", "/accounts/password_change/", None, (200, 200, 200, 200)),
]
ACTIONS = [
    ("post", "/leads/{lead}/status/", {"target": "completed"}, (404, 302, 302, 302)),
    ("post", "/leads/status/?pk={lead}", {"target": "completed"}, (403, 302, 302, 302)),
    ("post", "/leads/{lead}/edit/", "form", (404, 302, 302, 302)),
    ("post", "/leads/delete/?pk={lead}", {}, (403, 403, 302, 302)),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "url", "data", "expected"), PAGES + ACTIONS)
def test_role_matrix(as_persona, lead, persona, method, url, data, expected):
    url = url.format(lead=lead.pk, campaign=lead.campaign_id)
    if data == "form":
        data = lead_form_post(lead)
    response = getattr(as_persona(persona), method)(url, data)
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
        return
    assert response.status_code == expected[PERSONAS.index(persona) - 1]
    if method == "post" and "delete" in url:
        assert Lead.objects.filter(pk=lead.pk).exists() == (response.status_code != 302)


@pytest.mark.parametrize("persona", PERSONAS)
def test_creating_a_lead_needs_the_add_permission(as_persona, campaign, persona):
    data = lead_form_post(Lead(phone="+14155550100", campaign=campaign))
    response = as_persona(persona).post("/leads/new/", data)
    created = Lead.objects.filter(phone="+14155550100").exists()
    if persona == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    elif persona == "outsider":
        assert response.status_code == 403
    else:
        assert response.status_code == 302
    assert created == (persona in ("operator", "staff", "admin"))


@pytest.mark.parametrize("url", ["/leads/{lead}/status/", "/leads/delete/?pk={lead}"])
def test_anonymous_posts_change_nothing(client, lead, url):
    response = client.post(url.format(lead=lead.pk), {"target": "completed"})
    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).status == "created"


def test_status_actions_are_post_only(client, operator, lead):
    client.force_login(operator)
    assert client.get(f"/leads/{lead.pk}/status/").status_code == 405


def test_an_operator_sees_no_button_they_cannot_use(client, operator, lead):
    client.force_login(operator)
    page = client.get("/leads/").content.decode()
    assert "Change status" in page and "New lead" in page
    assert "/leads/delete/" not in page and "Export CSV" not in page
    detail = client.get(f"/leads/{lead.pk}/").content.decode()
    assert f"/leads/{lead.pk}/edit/" in detail and "/leads/delete/" not in detail


def test_staff_see_delete_and_export(client, staff, lead):
    client.force_login(staff)
    page = client.get("/leads/?status=created").content.decode()
    assert "/leads/delete/" in page
    assert 'href="/leads/export/?status=created"' in page
