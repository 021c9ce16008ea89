"""The browser harness of leads/tests/browser (Debian's Chromium through Playwright)."""

from leads.tests.browser.conftest import (  # noqa: F401
    csp_violations,
    page,
    roles_present,
    screenshot,
)
