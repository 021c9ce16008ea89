"""The schema and the docs page: served from this site under the strict CSP, no inline code."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_with_every_endpoint(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/leads/",
        "/api/v1/leads/{id}/",
        "/api/v1/leads/{id}/status/",
        "/api/v1/leads/bulk/",
        "/api/v1/leads/export/",
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{id}/",
        "/api/v1/campaigns/{id}/start/",
        "/api/v1/campaigns/{id}/pause/",
        "/api/v1/campaigns/{id}/resume/",
        "/api/user/lead",
        "/api/user/leads",
    }
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    # Every operation documents its problems in the one shape.
    for item in schema["paths"].values():
        for op in item.values():
            for code in ("400", "401", "403", "404"):
                assert "application/problem+json" in op["responses"][code]["content"]


def test_the_docs_page_loads_only_this_sites_files_with_no_inline_code(client, operator):
    client.force_login(operator)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<style" not in html and " style=" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "http://" not in html and "https://" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


def test_the_docs_and_schema_are_public_but_the_api_is_not(db):
    # Documentation holds no data; every endpoint it describes asks for a token.
    client = Client()
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/v1/campaigns/").status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/leads/abc/", "/api/v1/nothing", "/api/", "/api/user/lead/"])
def test_an_unknown_api_address_is_a_problem_404(path, db):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "No API endpoint at this address: see /api/docs/."


def test_every_operation_has_a_summary(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    missing = [
        op["operationId"]
        for item in schema["paths"].values()
        for op in item.values()
        if not op.get("summary")
    ]
    assert missing == []
