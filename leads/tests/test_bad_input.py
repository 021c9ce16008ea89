"""Extreme and malformed input on the leads pages answers 4xx or a page with a message, never 500.

Each test names one request that used to end in a server error (issue 11).
"""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client

from campaigns.models import E_VARIABLE_NAME
from leadmgr.testing import make_campaign, make_lead
from leads import selectors
from leads.management.commands import export_leads
from leads.models import Lead
from leads.views import E_NOTHING_SELECTED, M_PAST_END

from .test_views_table import rows

INT64_MAX = 2**63 - 1
CALENDAR_ENDS = [
    "created_to=9999-12-31",
    "created_from=0001-01-01",
    "created_from=0001-01-01&created_to=9999-12-31",
    "created_from=9999-12-31",
    "created_to=0001-01-01",
]
# Zones at both ends of the offsets (UTC+14, UTC-11) and one with daylight saving time.
ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York"]


@pytest.fixture
def client(client: Client) -> Client:
    client.raise_request_exception = False  # a 500 is an answer to assert on, not a test error
    return client


@pytest.fixture
def signed_in(client, staff):
    client.force_login(staff)
    return client


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Pages past the end ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", [str(INT64_MAX), str(2**64), "9" * 40])
def test_a_page_number_past_any_table_shows_the_last_page_with_a_notice(signed_in, campaign, page):
    leads = [make_lead(campaign) for _ in range(30)]
    response = signed_in.get(f"/leads/?page={page}")
    assert response.status_code == 200
    assert sorted(rows(response)) == sorted(lead.pk for lead in leads[:5])  # page 2 of 25 + 5
    assert M_PAST_END.format(asked=int(page), last=2) in response.content.decode()


def test_a_page_past_the_end_shows_the_last_page_not_the_first(signed_in, campaign):
    leads = [make_lead(campaign) for _ in range(30)]
    response = signed_in.get("/leads/?page=99")
    assert response.status_code == 200
    assert sorted(rows(response)) == sorted(lead.pk for lead in leads[:5])
    assert texts(response) == [M_PAST_END.format(asked=99, last=2)]


def test_a_page_past_the_end_of_an_empty_result_shows_the_empty_table(signed_in, campaign):
    response = signed_in.get("/leads/?page=3")
    assert response.status_code == 200
    assert rows(response) == []
    assert texts(response) == [M_PAST_END.format(asked=3, last=1)]


def test_a_page_that_exists_has_no_notice(signed_in, campaign):
    for _ in range(30):
        make_lead(campaign)
    response = signed_in.get("/leads/?page=2")
    assert len(rows(response)) == 5
    assert texts(response) == []


def test_a_past_the_end_page_on_a_deep_offset_uses_the_deferred_join(signed_in, campaign, monkeypatch):
    from leadmgr.pagination import DeferredJoinLazyPaginator

    monkeypatch.setattr(DeferredJoinLazyPaginator, "deep_offset", 0)
    leads = [make_lead(campaign) for _ in range(7)]
    response = signed_in.get("/leads/?per_page=3&page=50&sort=phone")
    assert rows(response) == [leads[6].pk]
    assert texts(response) == [M_PAST_END.format(asked=50, last=3)]


# --- Calendar ends in the date filters ----------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("query", CALENDAR_ENDS)
def test_calendar_end_dates_filter_the_table_count_and_bulk_pages(signed_in, campaign, settings, zone, query):
    settings.TIME_ZONE = zone
    lead = make_lead(campaign)
    everything = "created_to=0001-01-01" not in query and "created_from=9999-12-31" not in query
    expected = [lead.pk] if everything else []
    table = signed_in.get(f"/leads/?{query}")
    assert table.status_code == 200
    assert rows(table) == expected
    count = signed_in.get(f"/leads/count/?{query}")
    assert count.status_code == 200
    assert f">{len(expected)}<" in count.content.decode().replace(" ", "")
    delete = signed_in.get(f"/leads/delete/?all=1&{query}")
    assert delete.status_code == 200 and delete.context["n_leads"] == len(expected)
    status = signed_in.get(f"/leads/status/?all=1&{query}")
    assert status.status_code == 200 and status.context["n_leads"] == len(expected)
    export = signed_in.get(f"/leads/export/?download=1&{query}")
    assert export.status_code == 200
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(body)))) == 1 + len(expected)


def test_a_calendar_end_bound_is_no_bound_and_a_day_before_it_still_bounds(campaign, settings):
    import datetime as dt

    settings.TIME_ZONE = "Pacific/Kiritimati"
    lead = make_lead(campaign)
    assert list(selectors.lead_list(created_from=dt.date.min)) == [lead]
    assert list(selectors.lead_list(created_to=dt.date.max)) == [lead]
    assert list(selectors.lead_list(created_to=dt.date(9999, 12, 30))) == [lead]
    assert list(selectors.lead_list(created_from=dt.date(9999, 12, 30))) == []


# --- Ids outside the database's range -------------------------------------------------------------


# Other scripts' digits: int() reads "\u0661" (Arabic-Indic) as 1 and "\uff11" (full width) too.
ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
FULL_WIDTH = str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")


@pytest.mark.parametrize(
    "pk", [str(2**63), "99999999999999999999", "0", "-1", "\u00b2", "1" * 5000, ARABIC_INDIC, FULL_WIDTH]
)
@pytest.mark.parametrize("url", ["/leads/delete/", "/leads/status/"])
def test_an_id_outside_the_database_range_selects_nothing(signed_in, campaign, url, pk):
    lead = make_lead(campaign)
    if isinstance(pk, dict):  # the lead's own id in other digits
        pk = str(lead.pk).translate(pk)
    for method in (signed_in.get, signed_in.post):
        response = method(f"{url}?pk={pk}")
        assert response.status_code == 302, response.status_code
        assert texts(response)[-1:] == [E_NOTHING_SELECTED]
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_an_id_at_the_top_of_the_range_is_a_valid_selection(signed_in, campaign):
    lead = make_lead(campaign)
    response = signed_in.get(f"/leads/delete/?pk={INT64_MAX}&pk={lead.pk}")
    assert response.status_code == 200
    assert response.context["n_leads"] == 1


def test_parse_id_reads_ascii_digits_in_range_only():
    assert selectors.parse_id("42") == 42
    assert selectors.parse_id(str(INT64_MAX)) == INT64_MAX
    for value in [str(2**63), "0", "-3", "+3", " 3", "3 ", "\u0663", "\u00b3", "", "3.0", None, True]:
        assert selectors.parse_id(value) is None, value


@pytest.mark.parametrize("value", [str(2**63), "\u00b2", "\u0661"])
def test_the_variables_partial_ignores_ids_it_cannot_read(signed_in, campaign, value):
    response = signed_in.get(f"/leads/form/variables/?campaign={value}&lead={value}")
    assert response.status_code == 200


# --- The export refuses a bad filter before streaming ---------------------------------------------


def test_an_export_with_an_invalid_variable_name_is_refused_before_anything_streams(signed_in, campaign):
    make_lead(campaign)
    response = signed_in.get("/leads/export/?download=1&var=x-y")
    assert response.status_code == 400
    assert not response.streaming
    assert E_VARIABLE_NAME in response.content.decode()


def test_the_table_says_an_invalid_variable_name_is_invalid(signed_in, campaign):
    make_lead(campaign)
    response = signed_in.get("/leads/?var=x-y")
    assert response.status_code == 200
    assert rows(response) == []
    assert E_VARIABLE_NAME in response.content.decode()


def test_an_export_of_a_filter_that_matches_nothing_is_the_header_alone(campaign):
    from leads.csv import exporter

    make_lead(campaign)
    for with_secondary in (False, True):
        chunks = list(exporter.export_csv(Lead.objects.none(), with_secondary=with_secondary))
        assert "".join(chunks).splitlines()[0].startswith("id,phone")
        assert len("".join(chunks).splitlines()) == 1


# --- Deep nesting ---------------------------------------------------------------------------------


def test_deeply_nested_prefilled_variables_are_ignored(signed_in, campaign):
    response = signed_in.get(f"/leads/form/variables/?campaign={campaign.pk}&prefilled=" + "[" * 12_000)
    assert response.status_code == 200
    assert 'name="vars-0-name"' in response.content.decode()


# --- The return address ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "http://testserver/leads/",  # this host, but not a path
        "javascript:alert(1)",
        "leads/",
        "/no/such/page/",
        "\x00/leads/",
    ],
)
def test_a_return_address_that_is_not_a_path_on_this_site_goes_back_to_the_table(
    signed_in, campaign, next_url
):
    lead = make_lead(campaign)
    response = signed_in.post(f"/leads/{lead.pk}/status/", {"target": "completed", "next": next_url})
    assert (response.status_code, response["Location"]) == (302, "/leads/")
    response = signed_in.post("/leads/delete/", {"next": next_url})
    assert (response.status_code, response["Location"]) == (302, "/leads/")


def test_a_return_address_on_this_site_is_kept(signed_in, campaign):
    lead = make_lead(campaign)
    response = signed_in.post(
        f"/leads/{lead.pk}/status/", {"target": "completed", "next": f"/leads/?campaign={campaign.pk}"}
    )
    assert response["Location"] == f"/leads/?campaign={campaign.pk}"


def test_without_a_return_address_the_lead_page_goes_back_to_the_lead(signed_in, campaign):
    lead = make_lead(campaign)
    response = signed_in.post(f"/leads/{lead.pk}/status/", {"target": "completed"})
    assert response["Location"] == f"/leads/{lead.pk}/"


# --- export_leads ---------------------------------------------------------------------------------


def test_export_command_refuses_an_invalid_variable_name_in_one_line(campaign):
    with pytest.raises(CommandError) as exc:
        call_command("export_leads", "--var-key", "bad-name")
    assert str(exc.value) == export_leads.E_BAD_VAR_KEY.format(value="bad-name")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("zone", ZONES)
def test_export_command_at_the_calendar_end_exports_everything(campaign, settings, zone):
    settings.TIME_ZONE = zone
    make_campaign("Other")
    leads = [make_lead(campaign) for _ in range(2)]
    out = io.StringIO()
    call_command("export_leads", "--created-to", "9999-12-31", "--created-from", "0001-01-01", stdout=out)
    exported = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [int(row["id"]) for row in exported] == [lead.pk for lead in leads]
