"""What the runner dials next: for each attempt's step, the number to call and the request to send.

``read`` fetches, once for a batch of steps, what the choice needs (the leads still on their
attempt, their secondary contacts in order, the assistants, compliance's answer for every number);
``plan`` then decides each step without a query but the calling hours of a campaign met for the
first time: dial the next number whose window is open and that compliance allows, record the
numbers skipped on the way, or end the attempt when no number is left. Nothing is written here:
the runner records the plan, then places its calls.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from compliance import dialing
from compliance.hours import CallingHours, calling_hours
from leads import calls as call_records
from leads import variables as lead_variables
from leads.attempts import REASON_ALL_LISTED, AttemptEnd
from leads.models import CallAttempt, Lead, SecondaryContact, Status

from .models import Assistant, Campaign

DETAIL_NOT_RUNNING = "campaign no longer running"
DO_NOT_CALL = dialing.Refusal(dialing.DO_NOT_CALL)


@dataclass(frozen=True)
class Step:
    """Dial the next number of a lead's attempt: the one after ``after`` (None: the primary first)."""

    lead_id: int
    attempt: int
    after: str | None = None
    last_outcome: str = ""
    campaign_id: int | None = None


@dataclass
class Batch:
    """What the choice of a batch's numbers reads, once for the batch."""

    leads: dict[int, Lead]
    contacts: dict[int, list[SecondaryContact]]
    assistants: dict[int, Assistant]
    checks: dict[int, dialing.DialCheck]  # campaign id → compliance's answer for its numbers
    windows: dict[int, CallingHours] = field(default_factory=dict)

    def window(self, campaign: Campaign) -> CallingHours:
        if campaign.pk not in self.windows:  # once per campaign and batch: two queries (compliance.hours)
            self.windows[campaign.pk] = calling_hours(campaign)
        return self.windows[campaign.pk]


@dataclass
class Plan:
    """A batch's decisions: calls to place (with their requests), skips to record, attempts to end."""

    calls: list[CallAttempt] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    skips: list[CallAttempt] = field(default_factory=list)
    ends: list[AttemptEnd] = field(default_factory=list)
    continuing: list[int] = field(default_factory=list)  # leads past their first number
    gone: list[Step] = field(default_factory=list)  # deleted, ended or recovered since the claim
    steps: dict[int, Step] = field(default_factory=dict)  # lead id → its step


def read(steps: list[Step], now: dt.datetime) -> Batch:
    leads = {
        lead.pk: lead
        for lead in Lead.objects.filter(pk__in=[s.lead_id for s in steps], status=Status.PROCESSING)
        .select_related("campaign")
        .only("pk", "phone", "variables", "removed_variables", "attempts", "campaign")
    }
    contacts: dict[int, list[SecondaryContact]] = {}
    for contact in SecondaryContact.objects.filter(lead_id__in=list(leads)).order_by(
        "lead_id", "position", "id"
    ):
        contacts.setdefault(contact.lead_id, []).append(contact)
    assistants = Assistant.objects.prefetch_related("variables").in_bulk(
        {lead.campaign.assistant_id for lead in leads.values()}
    )
    return Batch(leads, contacts, assistants, _compliance_checks(leads.values(), contacts, now))


def _compliance_checks(leads, contacts, now: dt.datetime) -> dict[int, dialing.DialCheck]:
    """One compliance answer per campaign for every number of these leads (numbers listed or
    capped since the claim count at once)."""
    by_campaign: dict[int, list[str]] = {}
    for lead in leads:
        numbers = by_campaign.setdefault(lead.campaign_id, [])
        numbers.append(lead.phone)
        numbers.extend(c.phone for c in contacts.get(lead.pk, []))
    return {pk: dialing.check(numbers, pk, now) for pk, numbers in by_campaign.items()}


def plan(steps: list[Step], batch: Batch, *, provider: str, now: dt.datetime, skipped: Counter) -> Plan:
    """Decide each step (``skipped`` counts the numbers not dialled, by (campaign id, reason))."""
    out = Plan(steps={s.lead_id: s for s in steps})
    for step in steps:
        lead = batch.leads.get(step.lead_id)
        if lead is None or lead.attempts != step.attempt:
            out.gone.append(step)
            continue
        numbers = [(lead.phone, None)] + [(c.phone, c) for c in batch.contacts.get(lead.pk, [])]
        if step.after is not None:
            out.continuing.append(lead.pk)
            if lead.campaign.state != Campaign.State.RUNNING:
                reason = f"{step.last_outcome}; {DETAIL_NOT_RUNNING}"
                out.ends.append(AttemptEnd(lead.pk, step.attempt, False, reason))
                continue
        index = _choose(step, lead, numbers, batch, out, now, skipped)
        if index is None:
            continue
        phone, contact = numbers[index]
        batch.checks[lead.campaign_id].dialled(phone)
        out.calls.append(call_records.dial(lead.pk, contact, step.attempt, phone, provider=provider, now=now))
        out.requests.append(
            _request(step, lead, numbers, index, batch.assistants[lead.campaign.assistant_id])
        )
    return out


def _choose(step: Step, lead: Lead, numbers, batch: Batch, out: Plan, now, skipped: Counter) -> int | None:
    """The index of the number to dial, the skipped ones recorded on the way; None when no number is
    left (the attempt's end is added to the plan)."""
    index = (
        0
        if step.after is None
        else next((i + 1 for i, (p, _) in enumerate(numbers) if p == step.after), len(numbers))
    )
    campaign = lead.campaign
    window, check = batch.window(campaign), batch.checks[campaign.pk]
    not_before = None
    while index < len(numbers):
        phone, contact = numbers[index]
        refusal = check.refusal(phone)
        if refusal is not None:  # never dialled: the skip is recorded in the lead's calls
            out.skips.append(call_records.skip(lead.pk, contact, step.attempt, phone, refusal.reason, now))
            skipped[campaign.pk, refusal.reason] += 1
            if refusal.until:
                not_before = min(not_before or refusal.until, refusal.until)
        elif (step.after is None and index == 0) or window.verdict(phone, now).open:
            return index  # the primary's window was checked by the claim
        index += 1  # listed, capped, or its window is closed now: try the next number
    if all(check.refusal(p) == DO_NOT_CALL for p, _ in numbers):
        out.ends.append(AttemptEnd(lead.pk, step.attempt, True, reason=REASON_ALL_LISTED))
    else:
        outcome = step.last_outcome or "not dialled"
        out.ends.append(AttemptEnd(lead.pk, step.attempt, False, outcome, not_before=not_before))
    return None


def _request(step: Step, lead: Lead, numbers, index: int, assistant: Assistant) -> dict:
    """The provider's request for the dial (``CallRequest`` but for the call's id and callback)."""
    contact = numbers[index][1]
    values = lead_variables.effective(
        assistant, lead.variables, contact.variables if contact else None, lead.removed_variables
    )
    return {
        "lead_id": lead.pk,
        "attempt": step.attempt,
        "to": numbers[index][0],
        "numbers": [p for p, _ in numbers],
        "contact_index": index,
        "variables": values,
        "message": lead_variables.render_message(assistant.message_template, values).text,
        "campaign": lead.campaign.name,
        "assistant": assistant.name,
    }
