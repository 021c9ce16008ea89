"""Operators' bulk writes against the runner's row locks (PostgreSQL's row locks; SQLite has one writer).

The runner locks many leads in id order, in more than one statement of a transaction (the dials it
records, then the attempts they end). A bulk delete or status change that took its leads in another
order could close a cycle with it: PostgreSQL then fails one side ("deadlock detected"). The CI's
race of the runner against imports, edits and bulk deletes once ended that way, the delete failing.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from leadmgr.testing import make_campaign
from leads import lifecycle, services
from leads.models import CallAttempt, Lead, Status

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


def _leads_stored_against_id_order(campaign) -> tuple[int, int]:
    """Two leads being called (the runner's locks are on those), whose table order (and phone
    order) is the reverse of their id order: a writer that locked as it scanned would take the
    higher id first."""
    calling = {"campaign": campaign, "status": Status.PROCESSING, "attempts": 1}
    high = Lead.objects.create(pk=900_002, phone="+14155550100", **calling)
    low = Lead.objects.create(pk=900_001, phone="+14155550199", **calling)
    return low.pk, high.pk


class _InThread:
    """Run ``work`` on a connection of its own, with the session's deadlock_timeout set first."""

    def __init__(self, work, deadlock_timeout: str):
        self.work, self.timeout = work, deadlock_timeout
        self.result = self.error = None
        self.pid: int | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET deadlock_timeout = '{self.timeout}'")
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.result = self.work()
        except Exception as exc:  # handed to the test
            self.error = exc
        finally:
            connection.close()

    def start(self) -> _InThread:
        self.thread.start()
        return self

    def join(self) -> object:
        self.thread.join(60)
        assert not self.thread.is_alive()
        if self.error:
            raise self.error
        return self.result


def _wait_until_blocked(other, pid_of) -> None:
    """Until the thread's session waits for a row lock."""
    deadline = time.monotonic() + 20
    with other.cursor() as cursor:
        while time.monotonic() < deadline:
            pid = pid_of()
            if pid is not None:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                row = cursor.fetchone()
                if row and row[0] == "Lock":
                    return
            time.sleep(0.02)
    raise AssertionError("the bulk write never waited for the runner's lock")


def _runner_session(deadlock_timeout: str):
    runner = connections.create_connection(DEFAULT_DB_ALIAS)
    runner.set_autocommit(False)
    with runner.cursor() as cursor:
        cursor.execute(f"SET deadlock_timeout = '{deadlock_timeout}'")
    return runner


def _lock(runner, pk: int) -> None:
    with runner.cursor() as cursor:
        cursor.execute("SELECT id FROM leads_lead WHERE id = %s FOR UPDATE", [pk])


def _status_change(campaign) -> int:
    """Completed by hand: refused for leads being called, but each is locked and read first."""
    result = lifecycle.bulk_set_status(
        Lead.objects.filter(campaign=campaign), Status.COMPLETED, reason="test"
    )
    return result.changed + result.refused_total


# Each answers how many leads it went through.
BULK_WRITES = {
    "delete": lambda campaign: services.leads_delete(Lead.objects.filter(campaign=campaign))[0],
    "status": _status_change,
}


@pytest.mark.parametrize("write", BULK_WRITES)
def test_a_bulk_write_takes_its_leads_in_id_order_so_the_runner_never_deadlocks_with_it(write):
    campaign = make_campaign()
    low, high = _leads_stored_against_id_order(campaign)
    # The runner's transaction: the lower id locked, then (after the write began) the higher one.
    # The runner is the side PostgreSQL would fail here: it checks for a cycle first (50 ms).
    runner = _runner_session("50ms")
    try:
        _lock(runner, low)
        writer = _InThread(lambda: BULK_WRITES[write](campaign), "10s").start()
        _wait_until_blocked(runner, lambda: writer.pid)
        _lock(runner, high)  # a writer holding `high` while it waits for `low`: deadlock detected
        runner.commit()
    finally:
        runner.close()
    assert writer.join() == 2


@pytest.mark.parametrize("write", BULK_WRITES)
def test_a_bulk_write_chosen_as_a_deadlocks_victim_is_run_again_and_completes(write, caplog):
    campaign = make_campaign()
    low, high = _leads_stored_against_id_order(campaign)
    # Another transaction taking leads out of id order (a cycle with any writer that locks in
    # order); the writer detects it first (50 ms), so PostgreSQL fails the writer's transaction.
    runner = _runner_session("10s")
    try:
        _lock(runner, high)
        with caplog.at_level(logging.WARNING, logger="leadmgr.storage.locking"):
            writer = _InThread(lambda: BULK_WRITES[write](campaign), "50ms").start()
            _wait_until_blocked(runner, lambda: writer.pid)
            _lock(runner, low)  # waits until the writer, failed, rolls back and lets go of `low`
            runner.commit()
            assert writer.join() == 2  # its second try found both leads free
    finally:
        runner.close()
    assert "a deadlock's victim, rolled back; try 2 of 4" in caplog.text
    assert Lead.objects.filter(campaign=campaign, status=Status.PROCESSING).count() == (
        2 if write == "status" else 0  # a call under way refuses a change by hand
    )


def test_a_calls_result_takes_its_lead_before_the_call_as_a_deletes_cascade_does():
    # A bulk delete holds its leads, then its cascade deletes their calls; a result that locked
    # the call and then waited for the lead closed a cycle with it: the provider's callback
    # answered 500 when PostgreSQL chose it as the victim.
    from campaigns.providers import CallResult
    from campaigns.tests.helpers import runner as make_runner

    campaign = make_campaign()
    lead = Lead.objects.create(campaign=campaign, phone="+14155550100", status=Status.PROCESSING, attempts=1)
    call = CallAttempt.objects.create(
        lead=lead, attempt_number=1, phone=lead.phone, started_at=timezone.now()
    )
    deleter = _runner_session("10s")  # holds the lead, as a bulk delete does before its cascade
    try:
        _lock(deleter, lead.pk)
        result = _InThread(
            lambda: make_runner().handle_results([CallResult(call.pk, "completed")]), "10s"
        ).start()
        _wait_until_blocked(deleter, lambda: result.pid)
        with deleter.cursor() as cursor:  # the call is free: the cascade would not wait for it
            cursor.execute("SELECT id FROM leads_callattempt WHERE id = %s FOR UPDATE NOWAIT", [call.pk])
            assert cursor.fetchone() == (call.pk,)
        deleter.rollback()
    finally:
        deleter.close()
    assert result.join() == {call.pk: "applied"}
    assert Lead.objects.get(pk=lead.pk).status == Status.COMPLETED


def test_a_numbers_erasure_takes_every_lead_it_changes_before_their_calls_and_contacts():
    # The lead being called has a secondary contact with the number and a call to it: the erasure
    # deletes the one and strips the other. Taking them before the lead (which the runner holds
    # while it ends the lead's calls) could close a cycle with the runner.
    from compliance.erasure import erase_number
    from leads.models import SecondaryContact

    number = "+14155550177"
    campaign = make_campaign()
    lead = Lead.objects.create(campaign=campaign, phone="+14155550100", status=Status.PROCESSING, attempts=1)
    contact = SecondaryContact.objects.create(lead=lead, phone=number, position=1)
    call = CallAttempt.objects.create(
        lead=lead, contact=contact, attempt_number=1, phone=number, started_at=timezone.now()
    )
    runner = _runner_session("10s")
    try:
        _lock(runner, lead.pk)
        erasure = _InThread(lambda: erase_number(number=number).contacts_deleted, "10s").start()
        _wait_until_blocked(runner, lambda: erasure.pid)
        with runner.cursor() as cursor:  # nothing of the lead's is taken while it waits for the lead
            cursor.execute("SELECT id FROM leads_callattempt WHERE id = %s FOR UPDATE NOWAIT", [call.pk])
            assert cursor.fetchone() == (call.pk,)
            cursor.execute(
                "SELECT id FROM leads_secondarycontact WHERE id = %s FOR UPDATE NOWAIT", [contact.pk]
            )
            assert cursor.fetchone() == (contact.pk,)
        runner.rollback()
    finally:
        runner.close()
    assert erasure.join() == 1
    assert not SecondaryContact.objects.filter(pk=contact.pk).exists()
    assert CallAttempt.objects.get(pk=call.pk).phone == ""
