"""The import pages in a real browser: upload, preview (nothing written), confirm."""

from __future__ import annotations

import pytest
from django.db import connections

from leadmgr.testing import PASSWORD, make_campaign, make_user
from leads import roles
from leads.models import Lead


@pytest.mark.browser
def test_staff_uploads_previews_and_confirms_an_import(
    transactional_db, live_server, page, tmp_path, settings
):
    settings.LEADMGR_IMPORT_DIR = tmp_path / "uploads"
    make_campaign("Spring")
    make_user("sam", group=roles.STAFF)
    csv_file = tmp_path / "leads.csv"
    csv_file.write_text(
        "phone,customer_name,secondary_1_phone\n+14155550100,Sarah Johnson,+14155550101\n+1415,Bad,\n",
        encoding="utf-8",
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/leads/import/")
    page.set_input_files("input[name=file]", str(csv_file))
    page.select_option("select[name=campaign]", label="Spring")
    page.check("input[name=skip_invalid]")
    page.click("button:has-text('Preview')")
    assert page.locator("h1").inner_text() == "Preview of leads.csv"
    assert "is not a valid phone number" in page.locator("#import-errors").inner_text()
    assert "+14155550100" in page.locator("#import-preview").inner_text()
    assert Lead.objects.count() == 0  # the preview wrote nothing
    # Playwright's greenlet has its own context, hence its own database connection: close it.
    connections.close_all()
    page.click("button:has-text('Import 1 new')")
    assert "1 created" in page.locator(".alert-success").inner_text()
    lead = Lead.objects.get()
    assert (lead.phone, [c.phone for c in lead.contacts.all()]) == ("+14155550100", ["+14155550101"])
