"""A write that waited out SQLite's busy timeout behind another writer (a long strict import holds
the one write lock) answers 503 with a message and Retry-After, never a 500 (the load test's sign-ins
did, before)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from django.db import OperationalError
from django.test import Client

from api import views as api_views
from api.tests.helpers import api_client
from leadmgr.views import BUSY_RETRY_AFTER, E_DATABASE_BUSY, is_database_busy
from leads import selectors

pytestmark = pytest.mark.django_db


def fail_with(message: str):
    def fail(*args, **kwargs):
        raise OperationalError(message)

    return fail


@pytest.fixture
def locked(monkeypatch):
    """Reading leads fails as Django reports a lost wait for SQLite's write lock (the table page
    and the API list each reach leads through one function)."""
    monkeypatch.setattr(selectors, "leads_for_user", fail_with("database is locked"))
    monkeypatch.setattr(api_views, "filtered_leads", fail_with("database is locked"))


def test_a_page_that_finds_the_database_busy_answers_503_with_a_message(staff, locked):
    client = Client(raise_request_exception=False)
    client.force_login(staff)
    response = client.get("/leads/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert E_DATABASE_BUSY in response.content.decode()


def test_the_api_answers_a_busy_database_with_a_problem(staff, locked):
    client = api_client(staff)
    client.raise_request_exception = False
    response = client.get("/api/v1/leads/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["detail"] == E_DATABASE_BUSY


def test_any_other_error_is_still_a_500(staff, monkeypatch):
    monkeypatch.setattr(selectors, "leads_for_user", fail_with("no such table: leads_lead"))
    client = Client(raise_request_exception=False)
    client.force_login(staff)
    assert client.get("/leads/").status_code == 500


def test_sqlite_says_database_is_locked_when_another_writer_holds_the_lock(tmp_path):
    # The words is_database_busy looks for are SQLite's own, from a real second writer.
    path = tmp_path / "busy.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as raised:
        waiter.execute("BEGIN IMMEDIATE")
    holder.rollback()
    assert is_database_busy(OperationalError(str(raised.value)))
