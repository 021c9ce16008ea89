"""The campaign runner: claims due leads, calls their numbers in order, hands outcomes to the lifecycle.

One pass (``Runner.tick``):
1. ``attempts.recover_lost`` ends attempts whose lease ran out (a worker died mid-call).
2. For every running campaign with free slots (concurrency limit minus leads in Processing): read
   due leads from ``selectors.take_due``, check each primary number's calling window in the callee's
   time zone, defer the closed ones to their next opening (``attempts.defer_for_window``), then claim
   the open ones (``attempts.claim_due``) under a lock on the campaign row, so the limit and a pause
   hold across workers. Paused campaigns and full slots are recorded as decisions, not calls.
3. Dial the first number of each claimed lead (``_dial``): ``dialplan`` reads what to dial and
   chooses each number, ``_record`` writes the call records (``leads.calls``) and the attempts'
   ends in one transaction, ``_place`` asks the provider. Results — the simulated provider's from
   ``due_results``, the http provider's from the signed callback (``callbacks``) — go through
   ``handle_results``, the one path that records the dial, then dials the lead's next number or ends
   the attempt through ``attempts.finish_attempts`` (Completed, Rescheduled or Max Retries by the
   campaign's policy).

While an attempt waits for a result the lead stays in Processing under its lease (renewed at each
dial); a result that never comes is ended as ``lost`` by the next worker's recovery.
"""

from __future__ import annotations

import datetime as dt
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
from compliance.hours import calling_hours
from leadcounts import services as lead_counts
from leadmgr.tally import Tally
from leads import attempts, selectors, textsearch, variable_names
from leads import calls as call_records
from leads import variables as lead_variables
from leads.models import CallAttempt, Lead, SecondaryContact

from . import dialplan, services
from .dialplan import DETAIL_NOT_RUNNING, Step
from .models import Assistant, Campaign, RunnerDecision
from .providers import SUCCESS, CallRequest, CallResult, Provider, get_provider

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
# Due leads a pass leaves waiting (slots full, paused), for the record: a count of DUE_RECOUNT_FROM or
# more is reused for DUE_RECOUNT (4 runners counting 120k every 1 s were most of PostgreSQL's load).
DUE_RECOUNT_FROM = 10_000
DUE_RECOUNT = dt.timedelta(seconds=15)
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
class TickReport(Tally):
    """What a pass did (or a run of passes: ``add``): leads claimed, calls placed, results applied,
    lost attempts recovered, attempts ended by final status, and due leads not called, with why."""

    claimed: int = 0
    dials: int = 0
    results: int = 0
    recovered: int = 0
    finished: Counter = field(default_factory=Counter)  # final status → leads
    skipped: Counter = field(default_factory=Counter)  # (campaign id, reason) → leads


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
        self._waiting: dict[int, tuple[dt.datetime, int]] = {}  # campaign id → (counted at, due leads)

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
        released = attempts.release_attempts(self.held(), now=self.clock())
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
        with self.unit("variable names catch-up"):
            variable_names.catch_up()  # and their variable names (the form's and the API's leads)
        with self.unit("lease recovery"):
            recovered = attempts.recover_lost(now, exclude=self.held())
            report.recovered = len(recovered)
            report.finished.update(recovered.values())
        campaigns = Campaign.objects.filter(state__in=[Campaign.State.RUNNING, Campaign.State.PAUSED])
        for campaign in list(campaigns.order_by("pk")) if self.claiming else []:
            with self.unit(f"campaign {campaign.pk} ({campaign.name})"):
                if campaign.state == Campaign.State.PAUSED:
                    report.skipped[campaign.pk, Reason.PAUSED] += self.waiting(campaign, now)
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

    def waiting(self, campaign: Campaign, now: dt.datetime) -> int:
        """Its due leads this pass leaves waiting (a long queue: this worker's count, DUE_RECOUNT)."""
        at, n = self._waiting.get(campaign.pk, (None, 0))
        if at is None or n < DUE_RECOUNT_FROM or not at <= now < at + DUE_RECOUNT:
            at, n = self._waiting[campaign.pk] = (now, selectors.due_count(campaign, now))
        return n

    def _run_campaign(self, campaign: Campaign, report: TickReport) -> None:
        while True:
            want, claims = self._claim(campaign, report)
            if want <= 0:
                if want == 0:  # every slot is taken: the due leads wait
                    due = self.waiting(campaign, self.clock())
                    report.skipped[campaign.pk, Reason.CONCURRENCY_FULL] += due
                return
            report.claimed += len(claims)
            self.hold((c.lead_id, c.attempt) for c in claims)
            self._dial([Step(c.lead_id, c.attempt, campaign_id=campaign.pk) for c in claims], report)
            if len(claims) < want:
                return  # nothing more is callable now

    def _claim(self, campaign: Campaign, report: TickReport) -> tuple[int, list[attempts.Claim]]:
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
            return want, attempts.claim_due(campaign, len(open_ids), now, lease(), among=open_ids)

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
                attempts.defer_for_window(deferrals, now=now)
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
            report.skipped[campaign.pk, Reason.DO_NOT_CALL] += attempts.complete_listed(listed, now=now)
        return keep

    # --- dialling --------------------------------------------------------------------------------

    def _dial(self, steps: list[Step], report: TickReport) -> None:
        """Dial each lead's next number whose window is open, or end the attempt when none is left:
        read what to dial and decide (``dialplan``), record the decisions, place the calls."""
        if not steps:
            return
        try:
            now = self.clock()
            batch = dialplan.read(steps, now)
            plan = dialplan.plan(steps, batch, provider=self.provider.name, now=now, skipped=report.skipped)
            for step in plan.gone:
                self._gone(step, report)
            self._record(batch, plan, now, report)
            self._place(plan.calls, plan.requests, report)
        except Exception as exc:
            # Not dialled: this worker lets go of them, so lease recovery ends them (never stuck).
            self.forget(s.lead_id for s in steps)
            exc.add_note(f"leads {sorted(s.lead_id for s in steps)[:50]}")
            raise

    def _record(
        self, batch: dialplan.Batch, plan: dialplan.Plan, now: dt.datetime, report: TickReport
    ) -> None:
        """Write the plan (dials, skips, ends) in one commit before the provider is asked."""
        with transaction.atomic():
            # A pause (or finish) that committed since the state was read above stops these dials:
            # the state is read again under the campaign rows' lock (taken before the leads', as a
            # claim does), so no dial is recorded once a Pause has answered. A first number is given
            # back to the queue uncounted; a further number ends its attempt as before.
            running = self._still_running({batch.leads[c.lead_id].campaign_id for c in plan.calls})
            stopped = [c for c in plan.calls if batch.leads[c.lead_id].campaign_id not in running]
            if stopped:
                self._drop_stopped(plan, stopped, now)
            # Re-read under lock what was read above: a lead deleted (or ended) since is not dialled,
            # and one still there cannot be deleted until its dial is recorded.
            live = attempts.lock_attempts({c.lead_id: c.attempt_number for c in plan.calls})
            self._keep_live(plan, live, report)
            finals = attempts.finish_attempts(plan.ends, now=now) if plan.ends else {}
            report.finished.update(finals.values())
            call_records.insert(
                [c for c in plan.skips if c.lead_id in live or c.lead_id in finals] + plan.calls
            )
            if plan.continuing:
                attempts.extend_lease(plan.continuing, until=now + lease())
        if plan.ends:
            self.forget(e.lead_id for e in plan.ends)

    def _keep_live(self, plan: dialplan.Plan, live: set[int], report: TickReport) -> None:
        """Leave out the dials of leads no longer ``live``, and end the attempts whose secondary
        contact was removed since it was read (its row is locked until the dials are recorded)."""
        contact_ids = [c.contact_id for c in plan.calls if c.contact_id and c.lead_id in live]
        contacts_left = set(
            SecondaryContact.objects.select_for_update()
            .filter(pk__in=contact_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        kept = []
        for call, request in zip(plan.calls, plan.requests, strict=True):
            if call.lead_id not in live:
                self._gone(plan.steps[call.lead_id], report)
            elif call.contact_id and call.contact_id not in contacts_left:
                log.info("runner: lead %s: contact %s removed mid-attempt", call.lead_id, call.contact_id)
                plan.ends.append(
                    attempts.AttemptEnd(call.lead_id, call.attempt_number, False, DETAIL_CONTACT_GONE)
                )
            else:
                kept.append((call, request))
        plan.calls, plan.requests = [c for c, _ in kept], [r for _, r in kept]

    def _place(self, calls: list[CallAttempt], requests: list[dict], report: TickReport) -> None:
        """Ask the provider to place the recorded calls; a refused one fails at once."""
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
        call_records.set_provider_refs(accepted)
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

    def _drop_stopped(self, plan: dialplan.Plan, stopped: list[CallAttempt], now: dt.datetime) -> None:
        """Leave out the dials of campaigns paused or finished since they were read (see _record)."""
        stopped_ids = {c.lead_id for c in stopped}
        going_on = set(plan.continuing)
        first = {c.lead_id: c.attempt_number for c in stopped if c.lead_id not in going_on}
        released = attempts.release_attempts(first, now=now) if first else []
        self.forget(released)
        plan.ends.extend(
            attempts.AttemptEnd(c.lead_id, c.attempt_number, False, DETAIL_NOT_RUNNING)
            for c in stopped
            if c.lead_id in going_on
        )
        log.info("runner: %d dial(s) left out: campaign no longer running", len(stopped))
        kept = [
            (c, r) for c, r in zip(plan.calls, plan.requests, strict=True) if c.lead_id not in stopped_ids
        ]
        plan.calls, plan.requests = [c for c, _ in kept], [r for _, r in kept]

    def _gone(self, step: Step, report: TickReport) -> None:
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
        with transaction.atomic():
            verdicts, applied = call_records.apply_results(results, now=now)
            ends = [
                attempts.AttemptEnd(call.lead_id, call.attempt_number, True, call.outcome)
                for call in applied
                if call.outcome == SUCCESS
            ]
            report.finished.update(attempts.finish_attempts(ends, now=now).values())
        self.forget(e.lead_id for e in ends)
        report.results += len(applied)
        self._dial(
            [Step(c.lead_id, c.attempt_number, c.phone, c.outcome) for c in applied if c.outcome != SUCCESS],
            report,
        )
        return verdicts
