"""The leads app's browser harness (Debian's Chromium through Playwright), shared."""

from leads.tests.browser.conftest import csp_violations, page, roles_present, screenshot  # noqa: F401
