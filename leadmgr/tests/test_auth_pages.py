"""Sign-in, sign-out and password change pages."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt

from leadmgr.forms import E_USERNAME_TOO_LONG
from leadmgr.testing import PASSWORD


def test_every_page_but_sign_in_requires_it(client, db):
    assert client.get("/accounts/login/").status_code == 200
    response = client.get("/leads/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/leads/"


def test_sign_in_lands_on_the_leads_table(client, operator):
    response = client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/leads/"


def test_a_wrong_password_is_refused(client, operator):
    response = client.post("/accounts/login/", {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_sign_out_is_a_post_and_returns_to_sign_in(client, operator):
    client.force_login(operator)
    assert "Sign out" in client.get("/leads/").content.decode()
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/leads/").status_code == 302


def test_password_change(client, operator):
    client.force_login(operator)
    page = client.get("/accounts/password_change/").content.decode()
    assert "Change your password" in page and "bootstrap" in page
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase",
            "new_password2": "a-new-long-passphrase",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"
    assert "Password changed" in client.get(response["Location"]).content.decode()
    operator.refresh_from_db()
    assert operator.check_password("a-new-long-passphrase")


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_an_over_long_username_is_refused_by_the_form_not_the_database(client, db, url):
    # Django's sign-in form only sets the field's maxlength attribute; the username went on to
    # authenticate() and the lockout's failure record, a varchar(255) PostgreSQL refused (a 500).
    response = client.post(url, {"username": "x" * 300, "password": "secret"})
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [E_USERNAME_TOO_LONG.format(n=150)]
    assert not AccessAttempt.objects.exists()
