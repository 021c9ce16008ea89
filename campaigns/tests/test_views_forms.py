"""Creating and editing campaigns and assistants from the operator UI: validation in plain words,
the variables table (add, remove, reorder), the live preview, the confirm step for changes that
affect existing leads, and the role matrix of every page."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.models import Assistant, Campaign
from leadmgr.testing import PERSONAS, make_assistant, make_campaign, make_lead

# Personas: leadmgr.testing (PERSONAS, as_persona).


def campaign_post(assistant, **overrides) -> dict:
    data = {
        "name": "Autumn",
        "assistant": assistant.pk,
        "max_retries": "2",
        "retry_minutes": "45",
        "calling_days": ["0", "2", "4"],
        "window_start": "10:00",
        "window_end": "18:30",
        "concurrency_limit": "7",
    }
    data.update(overrides)
    return data


def assistant_post(name="Collector", template="Hi {{customer_name}}", rows=(), **extra) -> dict:
    """rows: (id or "", name, default, required, description) in order."""
    data = {
        "name": name,
        "description": "",
        "message_template": template,
        "vars-TOTAL_FORMS": str(len(rows)),
        "vars-INITIAL_FORMS": "0",
    }
    for i, (pk, var, default, required, description) in enumerate(rows):
        data |= {
            f"vars-{i}-id": pk,
            f"vars-{i}-name": var,
            f"vars-{i}-default": default,
            f"vars-{i}-description": description,
            f"vars-{i}-ORDER": str(i + 1),
        }
        if required:
            data[f"vars-{i}-required"] = "on"
    return data | extra


# (method, url, data) → status for outsider, operator, staff, admin.
MATRIX = [
    ("get", "/campaigns/new/", None, (403, 403, 200, 200)),
    ("post", "/campaigns/new/", "campaign", (403, 403, 302, 302)),
    ("get", "/campaigns/{campaign}/edit/", None, (404, 403, 200, 200)),
    ("post", "/campaigns/{campaign}/edit/", "campaign", (404, 403, 302, 302)),
    ("get", "/assistants/", None, (403, 200, 200, 200)),
    ("get", "/assistants/new/", None, (403, 403, 200, 200)),
    ("post", "/assistants/new/", "assistant", (403, 403, 302, 302)),
    ("get", "/assistants/{assistant}/edit/", None, (403, 403, 200, 200)),
    ("post", "/assistants/{assistant}/edit/", "assistant", (403, 403, 302, 302)),
    ("get", "/assistants/preview/?message_template=Hi", None, (403, 200, 200, 200)),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "url", "data", "expected"), MATRIX)
def test_role_matrix(as_persona, persona, method, url, data, expected):
    campaign = make_campaign()
    url = url.format(campaign=campaign.pk, assistant=campaign.assistant_id)
    if data == "campaign":
        data = campaign_post(campaign.assistant, name="Spring" if "edit" in url else "Autumn")
    elif data == "assistant":
        data = assistant_post(name="Sales Qualifier" if "edit" in url else "Collector")
    response = getattr(as_persona(persona), method)(url, data)
    if persona == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    else:
        assert response.status_code == expected[PERSONAS.index(persona) - 1]
    if method == "post" and "new" in url:
        created = (
            Campaign.objects.filter(name="Autumn").exists()
            or Assistant.objects.filter(name="Collector").exists()
        )
        assert created == (persona in ("staff", "admin"))


def test_buttons_follow_the_role(as_persona):
    campaign = make_campaign()
    operator_list = as_persona("operator").get("/campaigns/").content.decode()
    assert "/campaigns/new/" not in operator_list
    assert (
        f"/campaigns/{campaign.pk}/edit/"
        not in as_persona("operator").get(f"/campaigns/{campaign.pk}/").content.decode()
    )
    assert "/assistants/new/" not in as_persona("operator").get("/assistants/").content.decode()
    assert "/campaigns/new/" in as_persona("staff").get("/campaigns/").content.decode()
    assert (
        f"/campaigns/{campaign.pk}/edit/"
        in as_persona("staff").get(f"/campaigns/{campaign.pk}/").content.decode()
    )
    staff_assistants = as_persona("staff").get("/assistants/").content.decode()
    assert (
        "/assistants/new/" in staff_assistants
        and f"/assistants/{campaign.assistant_id}/edit/" in staff_assistants
    )


def test_a_new_campaign_is_a_draft_with_the_policy_and_window_given(client, staff):
    assistant = make_assistant()
    client.force_login(staff)
    response = client.post("/campaigns/new/", campaign_post(assistant))
    campaign = Campaign.objects.get(name="Autumn")
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{campaign.pk}/"
    assert (
        campaign.state,
        campaign.assistant,
        campaign.max_retries,
        campaign.retry_interval,
        campaign.calling_days,
        campaign.window_start,
        campaign.window_end,
        campaign.concurrency_limit,
    ) == (
        Campaign.State.DRAFT,
        assistant,
        2,
        dt.timedelta(minutes=45),
        [0, 2, 4],
        dt.time(10),
        dt.time(18, 30),
        7,
    )


def test_the_form_spells_out_the_callee_local_rule(client, staff):
    client.force_login(staff)
    page = client.get("/campaigns/new/").content.decode()
    assert "each callee&#x27;s local time" in page
    assert "09:00 in New York for a New York number" in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"window_start": "18:00", "window_end": "09:00"},
            None,
            "The calling window must start before it ends.",
        ),
        ({"calling_days": []}, "calling_days", "This field is required."),
        ({"concurrency_limit": "0"}, "concurrency_limit", "Ensure this value is greater than or equal to 1."),
        (
            {"retry_minutes": "0"},
            "retry_minutes",
            "The retry interval is a whole number of minutes, at least 1.",
        ),
        (
            {"retry_minutes": "x"},
            "retry_minutes",
            "The retry interval is a whole number of minutes, at least 1.",
        ),
        ({"name": "Spring"}, "name", "Campaign with this Name already exists."),
        (
            {"calling_days": ["9"]},
            "calling_days",
            "Select a valid choice. 9 is not one of the available choices.",
        ),
    ],
)
def test_invalid_input_gets_a_message_and_saves_nothing(client, staff, overrides, field, message):
    campaign = make_campaign("Spring")
    client.force_login(staff)
    response = client.post("/campaigns/new/", campaign_post(campaign.assistant, **overrides))
    assert response.status_code == 200
    form = response.context["form"]
    errors = form.non_field_errors() if field is None else form.errors[field]
    assert message in errors
    assert Campaign.objects.count() == 1


def test_editing_a_running_campaign_keeps_its_state(client, staff):
    campaign = make_campaign("Spring", state=Campaign.State.RUNNING)
    client.force_login(staff)
    page = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'value="60"' in page  # the retry interval in minutes
    client.post(
        f"/campaigns/{campaign.pk}/edit/",
        campaign_post(campaign.assistant, name="Spring 2", concurrency_limit="3"),
    )
    campaign.refresh_from_db()
    assert (campaign.name, campaign.concurrency_limit, campaign.state) == (
        "Spring 2",
        3,
        Campaign.State.RUNNING,
    )


def test_an_assistant_is_created_with_its_variables_in_order(client, staff):
    client.force_login(staff)
    rows = [("", "customer_name", "", True, "Who we call"), ("", "company", "Acme", False, "")]
    response = client.post("/assistants/new/", assistant_post(rows=rows))
    assert response.status_code == 302
    assistant = Assistant.objects.get(name="Collector")
    assert list(
        assistant.variables.values_list("name", "default", "required", "description", "position")
    ) == [
        ("customer_name", "", True, "Who we call", 0),
        ("company", "Acme", False, "", 1),
    ]


def test_variables_are_reordered_renamed_and_removed(client, staff):
    assistant = make_assistant(variables=[("a", "", False), ("b", "", False), ("c", "", False)])
    a, b, c = assistant.variables.order_by("position")
    client.force_login(staff)
    # c first, then a renamed to b and b renamed to a (a swap), and nothing else: c... removed? no.
    data = assistant_post(
        name=assistant.name,
        rows=[(c.pk, "c", "", False, ""), (a.pk, "b", "", False, ""), (b.pk, "z", "", False, "")],
    )
    data["vars-2-DELETE"] = "on"
    assert client.post(f"/assistants/{assistant.pk}/edit/", data).status_code == 302
    assert list(assistant.variables.order_by("position").values_list("pk", "name")) == [
        (c.pk, "c"),
        (a.pk, "b"),
    ]


def test_a_variable_id_of_another_assistant_makes_a_new_variable(client, staff):
    other = make_assistant("Other", variables=[("secret", "", False)])
    mine = make_assistant("Mine", variables=[])
    client.force_login(staff)
    foreign = other.variables.get().pk
    client.post(
        f"/assistants/{mine.pk}/edit/", assistant_post(name="Mine", rows=[(foreign, "x", "", False, "")])
    )
    assert other.variables.get().name == "secret"
    assert list(mine.variables.values_list("name", flat=True)) == ["x"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [("", "phone", "", False, "")],
            "'phone' is a column of its own in leadmgr; choose another variable name.",
        ),
        ([("", "1abc", "", False, "")], "A variable name starts with a letter"),
    ],
)
def test_bad_variable_names_are_refused(client, staff, rows, message):
    client.force_login(staff)
    response = client.post("/assistants/new/", assistant_post(rows=rows))
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Assistant.objects.filter(name="Collector").exists()


def test_a_duplicate_variable_name_is_refused(client, staff):
    client.force_login(staff)
    rows = [("", "x", "", False, ""), ("", "x", "", False, "")]
    response = client.post("/assistants/new/", assistant_post(rows=rows))
    assert "Two variables are named &#x27;x&#x27;: each name once." in response.content.decode()


def test_making_a_variable_required_says_how_many_leads_lack_it_and_waits_for_confirmation(client, staff):
    assistant = make_assistant(variables=[("customer_name", "", False), ("company", "", False)])
    running = make_campaign("Running", assistant=assistant, state=Campaign.State.RUNNING)
    paused = make_campaign("Paused", assistant=assistant, state=Campaign.State.PAUSED)
    finished = make_campaign("Finished", assistant=assistant, state=Campaign.State.FINISHED)
    for campaign, values in [
        (running, {}),
        (running, {"customer_name": ""}),
        (running, {"customer_name": "Sarah"}),
        (paused, {"company": "Acme"}),
        (finished, {}),  # never called again: not counted
    ]:
        make_lead(campaign, variables=values)
    make_lead(running, variables={}, status="completed")  # not to be called: not counted
    customer, company = assistant.variables.order_by("position")
    client.force_login(staff)
    data = assistant_post(
        name=assistant.name,
        rows=[(customer.pk, "customer_name", "", True, ""), (company.pk, "company", "", False, "")],
    )
    first = client.post(f"/assistants/{assistant.pk}/edit/", data)
    assert first.status_code == 200
    assert first.context["impact"] == [
        "customer_name becomes required: 3 leads in 2 campaigns still to be called do not set it; the "
        "runner skips them (reason: missing variable) until they do."
    ]
    customer.refresh_from_db()
    assert customer.required is False  # nothing saved yet
    confirmed = client.post(
        f"/assistants/{assistant.pk}/edit/", data | {"confirmed": first.context["fingerprint"]}
    )
    assert confirmed.status_code == 302
    customer.refresh_from_db()
    assert customer.required is True


def test_renaming_and_removing_say_how_many_leads_hold_a_value(client, staff):
    assistant = make_assistant(variables=[("customer_name", "", False), ("company", "", False)])
    campaign = make_campaign(assistant=assistant)
    make_lead(campaign, variables={"customer_name": "A", "company": "X"})
    make_lead(campaign, variables={"customer_name": "B"})
    make_lead(campaign, variables={"customer_name": ""})
    customer, company = assistant.variables.order_by("position")
    client.force_login(staff)
    data = assistant_post(name=assistant.name, rows=[(customer.pk, "name", "", False, "")])
    response = client.post(f"/assistants/{assistant.pk}/edit/", data)
    assert response.context["impact"] == [
        "Renaming customer_name to name: 2 leads hold a value for customer_name (kept under the old name).",
        "Removing company: 1 lead holds a value for company (kept on the lead, no longer used by the assistant).",
    ]
    page = response.content.decode()
    assert "Save anyway" in page
    stale = client.post(f"/assistants/{assistant.pk}/edit/", data | {"confirmed": "0000"})
    assert stale.status_code == 200  # a confirmation of something else asks again
    assert set(assistant.variables.values_list("name", flat=True)) == {"customer_name", "company"}


def test_the_preview_renders_the_message_for_recent_leads(client, operator):
    assistant = make_assistant(variables=[("customer_name", "", True), ("company", "Acme", False)])
    campaign = make_campaign(assistant=assistant)
    make_lead(campaign, phone="+14155550101", variables={"customer_name": "Sarah"})
    make_lead(campaign, phone="+14155550102", variables={"customer_name": "<b>Tom</b>", "company": "Globex"})
    client.force_login(operator)
    response = client.get(
        "/assistants/preview/",
        {
            "assistant": assistant.pk,
            "message_template": "Hi {{customer_name}} from {{company}} about {{topic}}",
            "vars-TOTAL_FORMS": "2",
            "vars-0-name": "company",
            "vars-0-default": "Initech",
            "vars-1-name": "topic",
            "vars-1-default": "",
        },
    )
    page = response.content.decode()
    assert page.count("data-preview") == 2
    assert "Hi &lt;b&gt;Tom&lt;/b&gt; from Globex about {{topic}}" in page
    assert "Hi Sarah from Initech about {{topic}}" in page
    assert "No value for: topic" in page


@pytest.mark.parametrize(
    "query",
    [
        {"assistant": "x", "vars-TOTAL_FORMS": "-5"},
        {"assistant": "99999999999999999999", "vars-TOTAL_FORMS": "1e9"},
        {"message_template": "{{" * 5000},
    ],
)
def test_the_preview_takes_hostile_input_without_error(client, operator, query):
    client.force_login(operator)
    assert client.get("/assistants/preview/", query).status_code == 200


def test_the_forms_show_the_current_calling_days_checked(client, staff):
    campaign = make_campaign("Spring", calling_days=[1, 3])
    client.force_login(staff)
    new = client.get("/campaigns/new/").content.decode()
    assert new.count('name="calling_days" value="') == 7
    assert [d for d in range(7) if f'value="{d}" id="id_calling_days_{d}" checked' in new] == [0, 1, 2, 3, 4]
    edit = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert [d for d in range(7) if f'value="{d}" id="id_calling_days_{d}" checked' in edit] == [1, 3]
