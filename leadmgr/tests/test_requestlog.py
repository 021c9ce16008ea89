"""One log line per request with a request id; JSON with LOG_FORMAT=json, for the runner's logger too."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from leadmgr.requestlog import JsonFormatter, RequestIdFilter

ROOT = Path(__file__).resolve().parents[2]


def test_each_request_logs_method_path_status_duration_and_id(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="leadmgr.request"):
        response = client.get("/accounts/login/?q=%2B14155550000")
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    [record] = [r for r in caplog.records if r.name == "leadmgr.request"]
    assert (record.method, record.path, record.status) == ("GET", "/accounts/login/", 200)
    assert record.duration_ms >= 0
    assert "14155550000" not in record.getMessage()  # the query string stays out of the logs


def test_an_incoming_request_id_is_kept_and_echoed(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="leadmgr.request"):
        response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert response["X-Request-ID"] == "lb-7f3a.42"
    RequestIdFilter().filter(record := logging.makeLogRecord({}))
    assert record.request_id == "-"  # outside a request
    [logged] = [r for r in caplog.records if r.name == "leadmgr.request"]
    assert json.loads(JsonFormatter().format(logged))["request_id"] == "lb-7f3a.42"


def test_an_unusable_incoming_id_is_replaced(client, db):
    response = client.get("/healthz", headers={"X-Request-ID": "two words\nand a newline"})
    assert len(response["X-Request-ID"]) == 32


def test_an_error_page_gets_its_line_too(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="leadmgr.request"):
        client.post("/healthz")
    [record] = [r for r in caplog.records if r.name == "leadmgr.request"]
    assert record.status == 405


def test_log_format_json_writes_requests_and_the_runner_as_json_lines():
    code = (
        "import django, logging, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'leadmgr.settings'; django.setup()\n"
        "from django.test.utils import setup_test_environment; setup_test_environment()\n"
        "from django.test import Client\n"
        "Client().get('/healthz', headers={'X-Request-ID': 'abc-123'})\n"
        "logging.getLogger('campaigns.runner').info('claimed %s lead(s)', 3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "1", "LOG_FORMAT": "json", "DATABASE_URL": "sqlite:///:memory:"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    request = next(line for line in lines if line["logger"] == "leadmgr.request")
    assert {k: request[k] for k in ("method", "path", "status", "request_id")} == {
        "method": "GET",
        "path": "/healthz",
        "status": 200,
        "request_id": "abc-123",
    }
    runner = next(line for line in lines if line["logger"] == "campaigns.runner")
    assert runner["message"] == "claimed 3 lead(s)" and runner["level"] == "INFO"
    assert runner["request_id"] == "-"
