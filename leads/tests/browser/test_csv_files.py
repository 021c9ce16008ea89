"""Spreadsheet files in a real browser at 1366×768: a semicolon CSV and an Excel workbook are
previewed as read, and an import into a running campaign says who will be called at once."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.db import connections

from leadmgr.testing import ALL_DAY, PASSWORD, make_campaign, make_user
from leads import roles
from leads.models import Lead


def sign_in(page, live_server) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


@pytest.mark.browser
def test_a_semicolon_file_is_previewed_as_semicolon_separated_and_imported(
    transactional_db, live_server, page, tmp_path, settings, any_hour
):
    settings.LEADMGR_IMPORT_DIR = tmp_path / "uploads"
    make_campaign("Live", state="running", **ALL_DAY)
    make_user("sam", group=roles.STAFF)
    path = tmp_path / "leads.csv"
    path.write_text(
        "phone;customer_name\n+14155550100;Sarah Johnson\n+14155550101;John Doe\n", encoding="utf-8"
    )
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/leads/import/")
    page.set_input_files("input[name=file]", str(path))
    page.select_option("select[name=campaign]", label="Live")
    page.click("button:has-text('Preview')")
    assert (
        page.locator("#import-source")
        .inner_text()
        .startswith("Read as: CSV, semicolon-separated (detected from the header).")
    )
    assert "Sarah Johnson" in page.locator("#import-preview").inner_text()
    assert page.locator("#import-called-at-once").inner_text() == (
        "2 leads will be called as soon as you confirm: campaign “Live” is running and its calling window is open."
    )
    connections.close_all()
    page.click("button:has-text('Import 2 new')")
    assert "2 created" in page.locator(".alert-success").inner_text()
    assert Lead.objects.count() == 2


@pytest.mark.browser
def test_an_xlsx_file_is_previewed_from_its_sheet_and_imported(
    transactional_db, live_server, page, tmp_path, settings
):
    settings.LEADMGR_IMPORT_DIR = tmp_path / "uploads"
    make_campaign("Spring")
    make_user("sam", group=roles.STAFF)
    book = openpyxl.Workbook()
    book.active.title = "March"
    book.active.append(["phone", "customer_name"])
    book.active.append([14155550100, "Sarah Johnson"])  # a number cell: its + comes back
    out = io.BytesIO()
    book.save(out)
    path = tmp_path / "march.xlsx"
    path.write_bytes(out.getvalue())
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/leads/import/")
    page.set_input_files("input[name=file]", str(path))
    page.select_option("select[name=campaign]", label="Spring")
    page.click("button:has-text('Preview')")
    assert page.locator("h1").inner_text() == "Preview of march.xlsx"
    assert page.locator("#import-source").inner_text().startswith("Read as: Excel workbook, sheet 'March'.")
    assert "+14155550100" in page.locator("#import-preview").inner_text()
    assert page.locator("#import-called-at-once").count() == 0  # a draft campaign calls nobody
    connections.close_all()
    page.click("button:has-text('Import 1 new')")
    assert "1 created" in page.locator(".alert-success").inner_text()
    assert Lead.objects.get().phone == "+14155550100"
