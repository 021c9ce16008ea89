"""The campaign runner: claims due leads, calls their numbers in order, hands outcomes to the lifecycle.

One pass (``Runner.tick``):
1. ``lifecycle.recover_lost`` ends attempts whose lease ran out (a worker died mid-call).
2. For every running campaign with free slots (concurrency limit minus leads in Processing): read
   due leads from ``selectors.take_due``, check each primary number's calling window in the callee's
   time zone, defer the closed ones to their next opening (``lifecycle.defer_for_window``), then claim
   the open ones (``lifecycle.claim_due``) under a lock on the campaign row, so the limit and a pause
   hold across workers. Paused campaigns and full slots are recorded as decisions, not calls.
3. Dial the first number of each claimed lead (``_dial``). Results — the simulated provider's from
   ``due_results``, the http provider's from the signed callback — go through ``handle_results``,
   the one path that records the dial, then dials the lead's next number or ends the attempt through
   ``lifecycle.finish_attempts`` (Completed, Rescheduled or Max Retries by the campaign's policy).

While an attempt waits for a result the lead stays in Processing under its lease (renewed at each
dial); a result that never comes is ended as ``lost`` by the next worker's recovery.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from compliance import dialing
from compliance import services as compliance_services
from compliance.hours import CallingHours, calling_hours
from compliance.selectors import blocked_numbers
from leadcounts import services as lead_counts
from leadmgr.db import storable_text, update_rows
from leads import lifecycle, selectors, textsearch
from leads import variables as lead_variables
from leads.models import CallAttempt, Lead, SecondaryContact, Status
from webhooks import outbox

from . import services
from .models import Assistant, Campaign, RunnerDecision
from .providers import OUTCOMES, CallRequest, CallResult, Provider, get_provider, signing
from .windows import WindowState, zones_for

log = logging.getLogger(__name__)

Reason = RunnerDecision.Reason

# Most leads one claim takes (one transaction); a campaign with a larger limit claims in several.
CLAIM_BATCH = 500
# How many due leads to read per window check, relative to the free slots.
CANDIDATE_FACTOR = 2
# The most due leads one claim checks for their window (the others wait for the next pass), so a
# night-time queue of a million is deferred over several short transactions, not one long one.
WINDOW_CHECKS_PER_CLAIM = 5_000
# How long a lead missing a required variable waits before the runner looks at it again.
MISSING_VARIABLE_RECHECK = dt.timedelta(minutes=15)
# The most due leads the start preview checks; beyond, it scales their proportions. 2,000 puts a
# proportion within about 2 points (95%), and keeps the fragment's phone parsing near 0.1 s: with
# 20,000 it took 1-1.5 s of CPU at a million leads, seconds a page under load (bench/load).
PREVIEW_SAMPLE = 2_000

DETAIL_NOT_RUNNING = "campaign no longer running"
DETAIL_CONTACT_GONE = "the secondary contact was removed before it could be dialled"


def is_connection_failure(exc: BaseException) -> bool:
    """The database connection itself failed (not one bad statement): the caller reconnects."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    try:
        return connection.connection is None or not connection.is_usable()
    except Exception:
        return True


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.LEADMGR_RUNNER_LEASE)


def callback_url() -> str:
    return settings.LEADMGR_CALLBACK_BASE_URL + reverse("campaigns:http_callback")


@dataclass
class TickReport:
    claimed: int = 0
    dials: int = 0
    results: int = 0
    recovered: int = 0
    finished: Counter = field(default_factory=Counter)  # final status → leads
    skipped: Counter = field(default_factory=Counter)  # (campaign id, reason) → leads

    def add(self, other: TickReport) -> None:
        self.claimed += other.claimed
        self.dials += other.dials
        self.results += other.results
        self.recovered += other.recovered
        self.finished.update(other.finished)
        self.skipped.update(other.skipped)


@dataclass(frozen=True)
class _Next:
    """Dial the next number of a lead's attempt: the one after ``after`` (None: the primary first)."""

    lead_id: int
    attempt: int
    after: str | None = None
    last_outcome: str = ""
    campaign_id: int | None = None


class Runner:
    def __init__(self, provider: Provider | None = None, *, clock=timezone.now):
        self.provider = provider or get_provider()
        self.clock = clock
        # The attempts this worker holds (lead id → attempt number): its heartbeat renews their
        # leases, its own recovery leaves them alone, a shutdown releases what is left.
        self._held: dict[int, int] = {}
        self._held_lock = threading.Lock()
        self.claiming = True  # False once asked to stop: no new claims
        self._results_since_pass = 0

    # --- what this worker holds --------------------------------------------------------------------

    def held(self) -> dict[int, int]:
        with self._held_lock:
            return dict(self._held)

    def hold(self, pairs: Iterable[tuple[int, int]]) -> None:
        with self._held_lock:
            self._held.update(pairs)

    def forget(self, lead_ids: Iterable[int]) -> None:
        with self._held_lock:
            for pk in lead_ids:
                self._held.pop(pk, None)

    def keep_only(self, held: dict[int, int], live: set[int]) -> None:
        """After a heartbeat: drop the attempts of ``held`` that are no longer under way."""
        with self._held_lock:
            for pk, attempt in held.items():
                if pk not in live and self._held.get(pk) == attempt:
                    del self._held[pk]

    def release_held(self) -> list[int]:
        """Give every attempt still held back to the queue (shutdown after the grace period)."""
        released = lifecycle.release_attempts(self.held(), now=self.clock())
        self.forget(released)
        return released

    @contextmanager
    def unit(self, what: str) -> Iterator[None]:
        """One unit of a pass: an error is logged with ``what`` and the pass goes on.

        Each write inside is its own transaction, so a failed unit left nothing half-written. A
        failure of the database connection itself propagates (the command counts them), and so does
        any error inside a caller's transaction (the caller's owner must roll it back).
        """
        try:
            yield
        except Exception as exc:
            if connection.in_atomic_block or is_connection_failure(exc):
                raise
            log.exception("runner: %s failed; rolled back, going on", what)

    # --- a pass over the campaigns ---------------------------------------------------------------

    def tick(self) -> TickReport:
        started = time.monotonic()
        now = self.clock()
        report = TickReport()
        with self.unit("search index catch-up"):
            textsearch.catch_up()  # housekeeping: leads added or changed by any path, into the index
        with self.unit("lease recovery"):
            recovered = lifecycle.recover_lost(now, exclude=self.held())
            report.recovered = len(recovered)
            report.finished.update(recovered.values())
        campaigns = Campaign.objects.filter(state__in=[Campaign.State.RUNNING, Campaign.State.PAUSED])
        for campaign in list(campaigns.order_by("pk")) if self.claiming else []:
            with self.unit(f"campaign {campaign.pk} ({campaign.name})"):
                if campaign.state == Campaign.State.PAUSED:
                    report.skipped[campaign.pk, Reason.PAUSED] += selectors.due_count(campaign, now)
                else:
                    self._run_campaign(campaign, report)
        with self.unit("collecting results"):
            self.collect(report)
        with self.unit("recording decisions"):
            services.decisions_record(counts=report.skipped, now=now)
        with self.unit("folding lead counts"):
            lead_counts.fold_deltas()  # housekeeping: the campaign pages read fewer pending deltas
        log.info(
            "runner pass: claimed=%d dials=%d results=%d recovered=%d held=%d duration=%.3fs",
            report.claimed,
            report.dials,
            report.results + self._results_since_pass,
            report.recovered,
            len(self._held),
            time.monotonic() - started,
        )
        self._results_since_pass = 0
        return report

    def run_once(self, *, sleep=time.sleep) -> TickReport:
        """Pass until nothing more can be claimed and every call this process placed has ended."""
        total = TickReport()
        while True:
            report = self.tick()
            total.add(report)
            if report.claimed:
                continue
            if not self.provider.in_flight():
                return total
            self.wait_for_results(total, sleep=sleep, limit=settings.LEADMGR_RUNNER_TICK)

    def wait_for_results(self, report: TickReport, *, sleep=time.sleep, limit: float = 1.0) -> None:
        """Sleep until the provider's next result is due (at most ``limit`` s), then collect."""
        next_due = getattr(self.provider, "next_due_in", lambda: None)()
        sleep(min(limit, next_due if next_due is not None else limit))
        before = report.results
        with self.unit("collecting results"):
            self.collect(report)
        self._results_since_pass += report.results - before

    def collect(self, report: TickReport) -> None:
        """Hand the provider's due results to the result handler (which may dial next numbers)."""
        while results := self.provider.due_results():
            self.handle_results(results, report)

    # --- one campaign ------------------------------------------------------------------------------

    def _run_campaign(self, campaign: Campaign, report: TickReport) -> None:
        while True:
            want, claims = self._claim(campaign, report)
            if want <= 0:
                if want == 0:  # every slot is taken: the due leads wait
                    due = selectors.due_count(campaign, self.clock())
                    report.skipped[campaign.pk, Reason.CONCURRENCY_FULL] += due
                return
            report.claimed += len(claims)
            self.hold((c.lead_id, c.attempt) for c in claims)
            self._dial([_Next(c.lead_id, c.attempt, campaign_id=campaign.pk) for c in claims], report)
            if len(claims) < want:
                return  # nothing more is callable now

    def _claim(self, campaign: Campaign, report: TickReport) -> tuple[int, list[lifecycle.Claim]]:
        """Check windows and claim, under the campaign row's lock; returns (slots wanted, claims).

        Claimers of one campaign take turns (the lock), so each reads the queue after the previous
        claim: the concurrency limit and a pause hold across workers, and no two read the same
        candidates. The lead rows are still claimed with SKIP LOCKED against other lockers.
        Slots wanted: -1 when the campaign stopped running, 0 when its slots are full.
        Each batch reads the queue, and stamps its claims, at its own time, read once the lock is
        held: a claim that waited for it (SQLite's write lock, the campaign row) never predates a
        change it waited behind, such as an operator's reset of the same lead.
        """
        with transaction.atomic():
            # FOR NO KEY UPDATE: claims, dials and controls serialise on the campaign row, but rows
            # that merely reference the campaign (a lead's insert, the lead counts' deltas) check
            # their foreign key with FOR KEY SHARE, which this lock lets through. A FOR UPDATE here
            # deadlocked against a bulk delete whose count deltas checked the campaign at COMMIT.
            limit = (
                Campaign.objects.select_for_update(no_key=True)
                .filter(pk=campaign.pk, state=Campaign.State.RUNNING)
                .values_list("concurrency_limit", flat=True)
                .first()
            )
            now = self.clock()
            if limit is None:  # paused or finished since the pass began: no new calls
                return -1, []
            want = min(limit - selectors.processing_count(campaign), CLAIM_BATCH)
            if want <= 0:
                return 0, []
            open_ids = self._window_pass(campaign, want, now, report)
            return want, lifecycle.claim_due(campaign, len(open_ids), now, lease(), among=open_ids)

    def _window_pass(self, campaign: Campaign, want: int, now: dt.datetime, report: TickReport) -> list[int]:
        """Up to ``want`` due lead ids whose primary number's window is open; defer the others."""
        window = calling_hours(campaign)
        # Required variables without a default: a lead that does not set one waits (never dialled
        # with a hole in its message) and is looked at again after MISSING_VARIABLE_RECHECK.
        missing = lead_variables.required_check(
            Assistant.objects.prefetch_related("variables").get(pk=campaign.assistant_id)
        )
        checks_variables = bool(missing({}))  # any required variable without a default
        fields = ("pk", "phone", "variables") if checks_variables else ("pk", "phone", "pk")
        open_ids: list[int] = []
        checked = 0
        while len(open_ids) < want and checked < WINDOW_CHECKS_PER_CLAIM:
            batch = max(CANDIDATE_FACTOR * (want - len(open_ids)), 500)
            checked += batch
            rows = selectors.take_due(campaign, now, batch, fields, exclude=open_ids)
            deferrals: dict[dt.datetime, list[int]] = {}
            for pk, phone, values in rows:
                if checks_variables and missing(values if isinstance(values, dict) else None):
                    deferrals.setdefault(now + MISSING_VARIABLE_RECHECK, []).append(pk)
                    report.skipped[campaign.pk, Reason.MISSING_VARIABLE] += 1
                    continue
                verdict = window.verdict(phone, now)
                if verdict.open:
                    open_ids.append(pk)
                else:
                    deferrals.setdefault(verdict.next_open, []).append(pk)
                    report.skipped[campaign.pk, str(verdict.state)] += 1
            open_ids[:] = self._compliance_pass(campaign, open_ids, deferrals, now, report)
            if deferrals:
                lifecycle.defer_for_window(deferrals, now=now)
            if len(rows) < batch:
                break
        return open_ids[:want]

    def _compliance_pass(
        self,
        campaign: Campaign,
        ids: list[int],
        deferrals: dict[dt.datetime, list[int]],
        now: dt.datetime,
        report: TickReport,
    ) -> list[int]:
        """Of the open due leads, those with a number compliance lets us dial now. A lead none of
        whose numbers may ever be called (do-not-call) leaves the queue as Completed; one whose
        numbers are all capped (or listed) waits until its first cap allows a dial."""
        numbers = selectors.numbers_of(ids)
        check = dialing.check([n for ns in numbers.values() for n in ns], campaign, now)
        keep, listed = [], []
        for pk in ids:
            refusals = [check.refusal(n) for n in numbers.get(pk, [])]
            if not refusals or not all(refusals):
                keep.append(pk)
            elif all(r.reason == dialing.DO_NOT_CALL for r in refusals):
                listed.append(pk)
            else:
                deferrals.setdefault(min(r.until for r in refusals if r.until), []).append(pk)
                report.skipped[campaign.pk, Reason.FREQUENCY_CAP] += 1
        if listed:
            report.skipped[campaign.pk, Reason.DO_NOT_CALL] += lifecycle.complete_listed(listed, now=now)
        return keep

    # --- dialling --------------------------------------------------------------------------------

    def _dial(self, steps: list[_Next], report: TickReport) -> None:
        """Dial each lead's next number whose window is open, or end the attempt when none is left."""
        if not steps:
            return
        try:
            self._dial_steps(steps, report)
        except Exception as exc:
            # Not dialled: this worker lets go of them, so lease recovery ends them (never stuck).
            self.forget(s.lead_id for s in steps)
            exc.add_note(f"leads {sorted(s.lead_id for s in steps)[:50]}")
            raise

    def _dial_steps(self, steps: list[_Next], report: TickReport) -> None:
        now = self.clock()
        campaign_of = {s.lead_id: s.campaign_id for s in steps}
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
        windows: dict[int, CallingHours] = {}
        checks = self._compliance_checks(leads.values(), contacts, now)
        skips: list[CallAttempt] = []
        ends: list[lifecycle.AttemptEnd] = []
        calls: list[CallAttempt] = []
        requests: list[dict] = []
        continuing: list[int] = []
        for step in steps:
            lead = leads.get(step.lead_id)
            if lead is None or lead.attempts != step.attempt:
                self._gone(step, report)  # deleted, ended or recovered meanwhile
                continue
            campaign = lead.campaign
            numbers = [(lead.phone, None)] + [(c.phone, c) for c in contacts.get(lead.pk, [])]
            index = (
                0
                if step.after is None
                else next((i + 1 for i, (p, _) in enumerate(numbers) if p == step.after), len(numbers))
            )
            if step.after is not None:
                continuing.append(lead.pk)
                if campaign.state != Campaign.State.RUNNING:
                    ends.append(
                        lifecycle.AttemptEnd(
                            lead.pk, step.attempt, False, f"{step.last_outcome}; {DETAIL_NOT_RUNNING}"
                        )
                    )
                    continue
            window = windows.get(campaign.pk)
            if window is None:  # once per campaign and batch: two queries (compliance.hours)
                window = windows[campaign.pk] = calling_hours(campaign)
            check = checks[campaign.pk]
            not_before = None
            while index < len(numbers):
                phone, contact = numbers[index]
                refusal = check.refusal(phone)
                if refusal is not None:  # never dialled: the skip is recorded in the lead's calls
                    skips.append(_skip(lead.pk, contact, step.attempt, phone, refusal.reason, now))
                    report.skipped[campaign.pk, refusal.reason] += 1
                    if refusal.until:
                        not_before = min(not_before or refusal.until, refusal.until)
                elif (step.after is None and index == 0) or window.verdict(phone, now).open:
                    break  # the primary's window was checked by the claim
                index += 1  # listed, capped, or its window is closed now: try the next number
            if index >= len(numbers):
                if all(check.refusal(p) == DO_NOT_CALL for p, _ in numbers):
                    end = lifecycle.AttemptEnd(
                        lead.pk, step.attempt, True, reason=lifecycle.REASON_ALL_LISTED
                    )
                else:
                    end = lifecycle.AttemptEnd(
                        lead.pk,
                        step.attempt,
                        False,
                        step.last_outcome or "not dialled",
                        not_before=not_before,
                    )
                ends.append(end)
                continue
            phone, contact = numbers[index]
            check.dialled(phone)
            calls.append(
                CallAttempt(
                    lead_id=lead.pk,
                    contact=contact,
                    attempt_number=step.attempt,
                    phone=phone,
                    started_at=now,
                    provider=self.provider.name,
                )
            )
            assistant = assistants[campaign.assistant_id]
            values = lead_variables.effective(
                assistant, lead.variables, contact.variables if contact else None, lead.removed_variables
            )
            requests.append(
                {
                    "lead_id": lead.pk,
                    "attempt": step.attempt,
                    "to": phone,
                    "numbers": [p for p, _ in numbers],
                    "contact_index": index,
                    "variables": values,
                    "message": lead_variables.render_message(assistant.message_template, values).text,
                    "campaign": campaign.name,
                    "assistant": assistant.name,
                }
            )
        with transaction.atomic():  # one commit for the batch's writes before the provider is asked
            # A pause (or finish) that committed since the state was read above stops these dials:
            # the state is read again under the campaign rows' lock (taken before the leads', as a
            # claim does), so no dial is recorded once a Pause has answered. A first number is given
            # back to the queue uncounted; a further number ends its attempt as before.
            running = self._still_running({leads[c.lead_id].campaign_id for c in calls})
            stopped = [c for c in calls if leads[c.lead_id].campaign_id not in running]
            if stopped:
                calls, requests = self._drop_stopped(calls, requests, stopped, continuing, ends, now)
            # Re-read under lock what was read above: a lead deleted (or ended) since is not dialled,
            # and one still there cannot be deleted until its dial is recorded.
            live = lifecycle.lock_attempts({c.lead_id: c.attempt_number for c in calls})
            contact_ids = [c.contact_id for c in calls if c.contact_id and c.lead_id in live]
            contacts_left = set(
                SecondaryContact.objects.select_for_update()
                .filter(pk__in=contact_ids)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            kept_calls, kept_requests = [], []
            for call, request in zip(calls, requests, strict=True):
                if call.lead_id not in live:
                    self._gone(
                        _Next(call.lead_id, call.attempt_number, campaign_id=campaign_of.get(call.lead_id)),
                        report,
                    )
                elif call.contact_id and call.contact_id not in contacts_left:
                    log.info("runner: lead %s: contact %s removed mid-attempt", call.lead_id, call.contact_id)
                    ends.append(
                        lifecycle.AttemptEnd(call.lead_id, call.attempt_number, False, DETAIL_CONTACT_GONE)
                    )
                else:
                    kept_calls.append(call)
                    kept_requests.append(request)
            calls, requests = kept_calls, kept_requests
            finals = lifecycle.finish_attempts(ends, now=now) if ends else {}
            report.finished.update(finals.values())
            kept_skips = [c for c in skips if c.lead_id in live or c.lead_id in finals]
            if calls or kept_skips:
                CallAttempt.objects.bulk_create(kept_skips + calls)
            if continuing:
                lifecycle.extend_lease(continuing, until=now + lease())
        if ends:
            self.forget(e.lead_id for e in ends)
        if not calls:
            return
        url = callback_url()
        placements = self.provider.place(
            [
                CallRequest(call_id=call.pk, callback_url=url, **r)
                for call, r in zip(calls, requests, strict=True)
            ]
        )
        report.dials += len(calls)
        by_id = {call.pk: call for call in calls}
        accepted = []
        refused = []
        for placement in placements:
            call = by_id[placement.call_id]
            if placement.accepted:
                if placement.provider_ref:
                    call.provider_ref = placement.provider_ref
                    accepted.append(call)
            else:
                refused.append(CallResult(placement.call_id, "failed", detail=placement.detail))
        if accepted:
            update_rows(CallAttempt, ["provider_ref"], [(c.pk, c.provider_ref) for c in accepted])
        if refused:
            self.handle_results(refused, report)

    @staticmethod
    def _still_running(campaign_ids: set[int]) -> set[int]:
        """Of these campaigns, those still running, their rows locked until the transaction ends."""
        return set(
            Campaign.objects.select_for_update(no_key=True)  # see _claim: FK checks pass this lock
            .filter(pk__in=campaign_ids, state=Campaign.State.RUNNING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def _drop_stopped(self, calls, requests, stopped, continuing, ends, now):
        """Leave out the dials of campaigns paused or finished since they were read (see _dial_steps)."""
        stopped_ids = {c.lead_id for c in stopped}
        going_on = set(continuing)
        first = {c.lead_id: c.attempt_number for c in stopped if c.lead_id not in going_on}
        released = lifecycle.release_attempts(first, now=now) if first else []
        self.forget(released)
        ends.extend(
            lifecycle.AttemptEnd(c.lead_id, c.attempt_number, False, DETAIL_NOT_RUNNING)
            for c in stopped
            if c.lead_id in going_on
        )
        log.info("runner: %d dial(s) left out: campaign no longer running", len(stopped))
        kept = [(c, r) for c, r in zip(calls, requests, strict=True) if c.lead_id not in stopped_ids]
        return [c for c, _ in kept], [r for _, r in kept]

    def _compliance_checks(self, leads, contacts, now: dt.datetime) -> dict[int, dialing.DialCheck]:
        """One compliance answer per campaign for every number of these leads (numbers listed or
        capped since the claim count at once)."""
        by_campaign: dict[int, list[str]] = {}
        for lead in leads:
            numbers = by_campaign.setdefault(lead.campaign_id, [])
            numbers.append(lead.phone)
            numbers.extend(c.phone for c in contacts.get(lead.pk, []))
        return {pk: dialing.check(numbers, pk, now) for pk, numbers in by_campaign.items()}

    def _gone(self, step: _Next, report: TickReport) -> None:
        """The lead was deleted, or its attempt ended elsewhere, before this dial: skip it."""
        self.forget([step.lead_id])
        log.info("runner: lead %s attempt %s gone before its dial; skipped", step.lead_id, step.attempt)
        if step.campaign_id is not None and not Lead.objects.filter(pk=step.lead_id).exists():
            report.skipped[step.campaign_id, Reason.LEAD_GONE] += 1

    # --- results: the one path for every provider -------------------------------------------------

    def handle_results(self, results: list[CallResult], report: TickReport | None = None) -> dict[int, str]:
        """Record dial results, then dial next numbers or end attempts. Idempotent per call.

        Returns call id → "applied" | "duplicate" (the same outcome again: nothing changes) |
        "conflict" (the call already ended otherwise, e.g. as lost) | "unknown".
        """
        report = report if report is not None else TickReport()
        now = self.clock()
        verdicts: dict[int, str] = {}
        applied: list[CallAttempt] = []
        with transaction.atomic():
            calls = CallAttempt.objects.select_for_update().in_bulk([r.call_id for r in results])
            for result in results:
                call = calls.get(result.call_id)
                if call is None:
                    verdicts[result.call_id] = "unknown"  # its lead was deleted: the result is dropped
                    log.info("runner: result for call %s dropped: the call is gone", result.call_id)
                elif call.outcome:
                    verdicts[result.call_id] = "duplicate" if call.outcome == result.outcome else "conflict"
                    if verdicts[result.call_id] == "conflict":
                        late = f"Late result {result.outcome!r} after the call ended as {call.outcome!r}."
                        log.info("runner: call %s: %s Ignored.", call.pk, late)
                        if late not in call.detail:
                            CallAttempt.objects.filter(pk=call.pk).update(
                                detail=f"{call.detail} {late}".strip()
                            )
                else:
                    call.outcome = result.outcome
                    call.ended_at = max(result.ended_at or now, call.started_at)
                    call.provider_ref = result.provider_ref[:128] or call.provider_ref
                    call.detail = result.detail
                    applied.append(call)
                    verdicts[result.call_id] = "applied"
            update_rows(
                CallAttempt,
                ["outcome", "ended_at", "provider_ref", "detail"],
                [(c.pk, c.outcome, c.ended_at, c.provider_ref, c.detail) for c in applied],
            )
            outbox.calls_ended(applied)
            ends = [
                lifecycle.AttemptEnd(call.lead_id, call.attempt_number, True, call.outcome)
                for call in applied
                if call.is_success
            ]
            report.finished.update(lifecycle.finish_attempts(ends, now=now).values())
        self.forget(e.lead_id for e in ends)
        report.results += len(applied)
        self._dial(
            [_Next(c.lead_id, c.attempt_number, c.phone, c.outcome) for c in applied if not c.is_success],
            report,
        )
        return verdicts


DO_NOT_CALL = dialing.Refusal(dialing.DO_NOT_CALL)
DETAIL_SKIPPED = {
    dialing.DO_NOT_CALL: "Not dialled: the number is on the do-not-call list.",
    dialing.FREQUENCY_CAP: "Not dialled: the number's frequency cap is reached.",
}


def _skip(lead_id: int, contact, attempt: int, phone: str, reason: str, now: dt.datetime) -> CallAttempt:
    return CallAttempt(
        lead_id=lead_id,
        contact=contact,
        attempt_number=attempt,
        phone=phone,
        started_at=now,
        ended_at=now,
        outcome=reason,
        detail=DETAIL_SKIPPED[reason],
    )


# --- the http provider's callback -------------------------------------------------------------------

E_REPLAY = "This signed callback was already received: refusing a replay."
E_MALFORMED = (
    "The result must be a JSON object with an integer call_id, an outcome among "
    f"{', '.join(OUTCOMES)}, optional provider_ref and detail strings, and an optional "
    "opted_out boolean."
)
E_UNKNOWN_CALL = "No call {call_id} exists."
MAX_CALL_ID = 2**63 - 1  # ids are positive 64-bit integers
E_CONFLICT = "Call {call_id} already ended with another outcome; this result is ignored."


def _parse_result(body: bytes) -> tuple[CallResult | None, int | None]:
    """The result in a callback body; (None, call_id or None) when malformed."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        return None, None
    if not isinstance(data, dict):
        return None, None
    call_id = data.get("call_id")
    if not isinstance(call_id, int) or isinstance(call_id, bool) or not 1 <= call_id <= MAX_CALL_ID:
        return None, None  # no call has that id (and the database cannot even be asked)
    outcome, ref, detail = data.get("outcome"), data.get("provider_ref", ""), data.get("detail", "")
    if outcome not in OUTCOMES or not isinstance(ref, str) or not isinstance(detail, str):
        return None, call_id
    # The provider's texts are kept as sent, but for what no database stores (NUL, lone surrogates).
    return CallResult(call_id, outcome, storable_text(ref), detail=storable_text(detail)), call_id


def _opted_out(body: bytes) -> bool | None:
    """The result's optional ``opted_out`` flag (the callee asked not to be called again); None
    when it is there but not a JSON boolean."""
    flag = json.loads(body).get("opted_out", False)
    return flag if isinstance(flag, bool) else None


def accept_callback(
    body: bytes, timestamp: str | None, signature: str | None, *, runner: Runner | None = None
) -> tuple[int, dict]:
    """Authenticate and apply one provider callback; returns (HTTP status, JSON answer).

    401: bad signature or stale timestamp. 409: the same signed request again (replay), or a result
    for a call that already ended otherwise. 400: malformed — when it names a call waiting for a
    result, that dial is recorded as failed so the attempt moves on (next number or retry policy).
    A repeated delivery of the same result, freshly signed, answers 200 "duplicate" and changes nothing.
    """
    try:
        signing.verify(
            settings.LEADMGR_PROVIDER_SECRET,
            timestamp,
            signature,
            body,
            now=time.time(),
            max_age=settings.LEADMGR_CALLBACK_MAX_AGE,
        )
    except signing.SignatureError as exc:
        return 401, {"error": str(exc)}
    keep = dt.timedelta(seconds=2 * settings.LEADMGR_CALLBACK_MAX_AGE)
    if not services.callback_receipt_record(signature=signature, now=timezone.now(), keep=keep):
        return 409, {"error": E_REPLAY}
    runner = runner or Runner()
    result, call_id = _parse_result(body)
    if result is None:
        if call_id is not None:
            runner.handle_results(
                [CallResult(call_id, "failed", detail="Malformed result from the provider.")]
            )
        return 400, {"error": E_MALFORMED}
    opted_out = _opted_out(body)
    if opted_out is None:
        runner.handle_results([CallResult(call_id, "failed", detail="Malformed result from the provider.")])
        return 400, {"error": E_MALFORMED}
    verdict = runner.handle_results([result])[result.call_id]
    if opted_out and verdict in ("applied", "duplicate"):
        compliance_services.opt_out_call(call_id=result.call_id)
    if verdict == "unknown":
        return 404, {"error": E_UNKNOWN_CALL.format(call_id=call_id)}
    if verdict == "conflict":
        return 409, {"error": E_CONFLICT.format(call_id=call_id)}
    return 200, {"status": verdict}


# --- "if started now" ------------------------------------------------------------------------------


@dataclass
class StartPreview:
    due: int
    would_call: int
    skipped: dict[str, int]  # reason label → leads
    estimated: bool  # proportions from the first PREVIEW_SAMPLE due leads

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def preview_start(campaign: Campaign, now: dt.datetime | None = None) -> StartPreview:
    """If the campaign started now: how many due leads one pass would call, and why not the others."""
    now = now or timezone.now()
    due_leads = selectors.due_leads(campaign, now)
    due = due_leads.count()
    phones = [phone for (phone,) in selectors.take_due(campaign, now, PREVIEW_SAMPLE, ("phone",))]
    window = calling_hours(campaign)
    listed = {n for i in range(0, len(phones), 5000) for n in blocked_numbers(phones[i : i + 5000], campaign)}
    # By (hours, time-zone set), not number by number: a sample holds a few dozen such pairs, and the
    # preview needs no next opening (the verdicts' next_open made the fragment take seconds at a
    # million leads). The hours are the campaign's within the legal floor and the number's region.
    states: Counter = Counter({Reason.DO_NOT_CALL: sum(phone in listed for phone in phones)})
    pairs = Counter((window.window_for(phone), zones_for(phone)) for phone in phones if phone not in listed)
    for (hours, zones), n in pairs.items():
        states[hours.state(zones, now)] += n
    scale = due / len(phones) if phones else 0
    outside = round(states[WindowState.OUTSIDE] * scale)
    ambiguous = round(states[WindowState.AMBIGUOUS] * scale)
    do_not_call = round(states[Reason.DO_NOT_CALL] * scale)
    callable_now = max(0, due - outside - ambiguous - do_not_call)
    free = max(0, campaign.concurrency_limit - selectors.processing_count(campaign))
    would_call = min(free, callable_now)
    skipped = {Reason.OUTSIDE_WINDOW.label: outside, Reason.TZ_AMBIGUOUS.label: ambiguous}
    if do_not_call:  # a reason of its own only where some due lead's primary is listed
        skipped[Reason.DO_NOT_CALL.label] = do_not_call
    skipped[Reason.CONCURRENCY_FULL.label] = callable_now - would_call
    return StartPreview(
        due=due,
        would_call=would_call,
        skipped=skipped,
        estimated=due > len(phones),
    )
