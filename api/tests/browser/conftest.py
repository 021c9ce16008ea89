"""The browser harness of leads/tests/browser (Playwright on Debian's Chromium, CSP violations fail)."""

from leads.tests.browser.conftest import csp_violations, page, roles_present, screenshot  # noqa: F401
