"""Shared personas and factories for every test module (see leadmgr/testing.py)."""

from leadmgr.testing import *  # noqa: F403
