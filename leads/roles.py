"""The roles of the contract, as Django groups (created by migration leads.0002_roles)."""

from __future__ import annotations

OPERATORS = "Operators"
STAFF = "Staff"

# Operators work leads: view, add and change them (status included) and their contacts.
OPERATOR_PERMISSIONS = [
    "leads.view_lead",
    "leads.add_lead",
    "leads.change_lead",
    "leads.view_secondarycontact",
    "leads.add_secondarycontact",
    "leads.change_secondarycontact",
    "leads.delete_secondarycontact",
    "leads.view_statuschange",
    "leads.view_callattempt",
    "campaigns.view_campaign",
    "campaigns.view_assistant",
    "campaigns.control_campaign",  # Start, Pause, Resume (campaigns/controls.py)
    "compliance.opt_out_lead",  # the lead page's Opt out (migration compliance.0002)
]
# Staff also move leads in and out in bulk.
STAFF_PERMISSIONS = [
    *OPERATOR_PERMISSIONS,
    "leads.delete_lead",
    "leads.import_lead",
    "leads.export_lead",
    "leads.bulk_delete_lead",
    # ... and create, edit and finish campaigns and assistants, and pause every campaign at once.
    "campaigns.add_campaign",
    "campaigns.change_campaign",
    "campaigns.finish_campaign",
    "campaigns.pause_all_campaigns",
    "campaigns.add_assistant",
    "campaigns.change_assistant",
    "campaigns.add_assistantvariable",
    "campaigns.change_assistantvariable",
    "campaigns.delete_assistantvariable",
    "campaigns.view_assistantvariable",
    # ... and place test calls from a campaign page (campaigns/testcalls.py, migration campaigns.0008).
    "campaigns.add_testcall",
    "campaigns.view_testcall",
    # ... and manage webhook subscriptions (webhooks/, migration webhooks.0002).
    "webhooks.view_subscription",
    "webhooks.add_subscription",
    "webhooks.change_subscription",
    "webhooks.delete_subscription",
    # ... and keep the do-not-call lists (search, add, remove, import, export).
    "compliance.view_donotcallentry",
    "compliance.add_donotcallentry",
    "compliance.change_donotcallentry",
    "compliance.import_donotcallentry",
    "compliance.export_donotcallentry",
]
ROLE_PERMISSIONS = {OPERATORS: OPERATOR_PERMISSIONS, STAFF: STAFF_PERMISSIONS}
