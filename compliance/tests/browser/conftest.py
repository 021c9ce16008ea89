"""The leads browser harness (Chromium, the live server, CSP checks, screenshots), reused."""

from leads.tests.browser.conftest import *  # noqa: F403
