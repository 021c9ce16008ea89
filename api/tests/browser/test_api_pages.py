"""The API's pages in a real browser under the Content-Security-Policy: Swagger UI renders every
operation from the vendored files with no violation, and the tokens page shows a new key once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from api.models import ApiToken
from leadmgr.testing import PASSWORD, make_user
from leads import roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_the_docs_render_every_operation_under_the_policy(page, screenshot):
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .information-container")).to_contain_text("leadmgr API")
    expect(page.locator(".opblock")).to_have_count(15)
    expect(page.locator(".opblock-summary-path", has_text="/api/user/lead")).to_have_count(2)
    screenshot("api-docs")


def test_the_tokens_page_creates_a_key_shown_once(page, screenshot):
    make_user("olivia", group=roles.OPERATORS)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/leads/$"))
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_role("button", name="Create token").click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("lm_")
    screenshot("api-tokens")
    token = ApiToken.objects.get(name="CRM sync")
    assert token.prefix == key[:10]
    page.reload()
    expect(page.locator("#new-key")).to_have_count(0)
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Token revoked")).to_be_visible()
