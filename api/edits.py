"""A PATCH of a lead as the arguments of ``leads.services.lead_update`` (the lead form's service)."""

from __future__ import annotations

from campaigns.models import Campaign
from leads import services
from leads.models import Lead
from leads.phones import InvalidPhone, normalize_phone

from . import rows

MERGE, REPLACE = "merge", "replace"


def _same_number(raw: str) -> str:
    """The number a contact's input means, to find the contact it keeps (its call history stays)."""
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return raw  # lead_update reports it


def update_arguments(lead: Lead, data: dict) -> tuple[dict, list[dict]]:
    """``lead_update``'s keyword arguments for the validated PATCH ``data``, or the problems found
    before it: unsent fields keep the lead's values; variables are merged into the lead's (a null or
    empty value removes one) or replace them; sent contacts replace the list, in order."""
    campaign = lead.campaign
    if "campaign" in data and data["campaign"] != lead.campaign_id:
        campaign = Campaign.objects.select_related("assistant").filter(pk=data["campaign"]).first()
        if campaign is None:
            return {}, [{"field": "campaign", "message": rows.E_CAMPAIGN_UNKNOWN.format(id=data["campaign"])}]
    given = data.get("variables")
    sent_contacts = data.get("secondary_contacts")
    problems = rows.variables_errors(given or {}, "variables")
    for i, contact in enumerate(sent_contacts or ()):
        problems += rows.variables_errors(contact["variables"], f"secondary_contacts[{i}].variables")
    if problems:
        return {}, problems
    values = dict(lead.variables)
    if given is not None:
        text = {k: rows.text_value(v) for k, v in given.items()}
        values = text if data["variables_mode"] == REPLACE else values | text
    existing = list(lead.contacts.order_by("position", "id"))
    if sent_contacts is None:
        contacts = [services.ContactInput(c.phone, c.variables, c.pk) for c in existing]
    else:
        by_phone = {c.phone: c.pk for c in existing}
        contacts = [
            services.ContactInput(
                c["phone_number"],
                {k: rows.text_value(v) for k, v in c["variables"].items()},
                by_phone.get(_same_number(c["phone_number"])),
            )
            for c in sent_contacts
        ]
    fields = {
        "campaign": campaign,
        "phone": data.get("phone_number", lead.phone),
        "variables": values,
        "contacts": contacts,
    }
    return fields, []
