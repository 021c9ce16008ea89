"""Playwright on Debian's Chromium against pytest-django's live server.

Playwright's sync API runs an event loop in this thread, which trips Django's async-unsafe guard
when the test then touches the ORM; the guard protects nothing here, so it is switched off.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leadmgr.testing import ensure_roles, serve_one_request_at_a_time_on_memory_databases

# The session's browser is leadmgr.testing's `chromium` fixture (one for every app's browser tests).

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
serve_one_request_at_a_time_on_memory_databases()

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


# Reports every Content-Security-Policy violation on the console, where the page fixture hears it
# (Chromium logs most of them itself; the event catches those it reports only to the page).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def is_csp_violation(text: str) -> bool:
    return "CSP violation" in text or "Content Security Policy" in text


@pytest.fixture
def csp_violations() -> list[str]:
    """What the page reported breaking the Content-Security-Policy; must stay empty."""
    return []


@pytest.fixture
def page(chromium, live_server, csp_violations, request):
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", lambda m: csp_violations.append(m.text) if is_csp_violation(m.text) else None)
    yield page
    context.close()
    # A test that provokes a violation on purpose says so and checks the list itself.
    if "expect_csp_violation" not in request.keywords:
        assert not csp_violations, "the page broke its Content-Security-Policy:\n" + "\n".join(csp_violations)


@pytest.fixture
def screenshot(page):
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


@pytest.fixture(autouse=True)
def roles_present(transactional_db):
    """The Operators and Staff groups, which a transactional flush between browser tests can take away."""
    ensure_roles()
