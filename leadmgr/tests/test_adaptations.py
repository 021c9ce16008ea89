"""The library adaptations (leadmgr/adaptations.py) hold for the versions they were written for."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from leadmgr.adaptations import TESTED_WITH

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


@pytest.mark.parametrize("library", sorted(TESTED_WITH))
def test_the_installed_library_is_the_version_the_adaptations_were_written_for(library):
    installed = importlib.metadata.version(library)
    assert installed == TESTED_WITH[library], (
        f"{library} is now {installed}; leadmgr/adaptations.py was written and measured for "
        f"{TESTED_WITH[library]}. Check that each adaptation of it still fits (and still pays: "
        "measure again), then update TESTED_WITH."
    )


@pytest.mark.parametrize("library", sorted(TESTED_WITH))
def test_requirements_pin_the_version_the_adaptations_were_written_for(library):
    pins = dict(
        line.split("==", 1) for line in REQUIREMENTS.read_text().splitlines() if "==" in line.split("#")[0]
    )
    assert pins[library].strip() == TESTED_WITH[library], (
        f"requirements.txt moves {library} to {pins[library].strip()}: check leadmgr/adaptations.py first."
    )


def test_the_render_signature_patch_is_installed_once():
    from django_tables2 import utils as tables2_utils

    from leadmgr.adaptations import remember_render_signatures

    patched = tables2_utils.signature
    remember_render_signatures()  # a second call changes nothing
    assert tables2_utils.signature is patched and patched.remembers
