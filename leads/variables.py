"""Variables: assistant defaults, lead and contact overrides, the required check, the move check.

Effective variables are layered: the assistant's defaults, then the lead's own values, then (when a
secondary contact is called) that contact's values. An empty value counts as "not set" at every
layer, so a lead's blank never hides a default.

Defaults are inherited live, never copied into the lead: a lead stores its own values only, so a
corrected default reaches every lead not yet called, and an import of a million rows stores what
the file says. A default the operator removed from one lead is listed in ``Lead.removed_variables``
and no longer inherited by it; a required variable cannot be removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings

from campaigns.models import (
    E_VARIABLE_NAME,
    Assistant,
    AssistantVariable,
    is_variable_name,
    validate_variable_name,
)

__all__ = ["validate_variable_name", "variable_errors", "max_variables"]

E_MISSING_REQUIRED = "Required variables are not set: {names}."
E_REQUIRED_NOT_REMOVABLE = (
    "{names}: required by the assistant {assistant!r}, so the call cannot do without it. "
    "Change the value instead of removing the variable."
)
E_MOVE_MISSING = "The new campaign's assistant requires variables this lead does not set: {names}."
W_MOVE_UNKNOWN = "The new campaign's assistant does not use these variables (they are kept): {names}."

E_BAD_VARIABLE_NAME = "{name!r} is not a variable name. " + E_VARIABLE_NAME
E_TOO_MANY_VARIABLES = (
    "A lead carries at most {limit} variables; this has {count}: remove some "
    "(the limit is the LEADMGR_MAX_VARIABLES_PER_LEAD setting)."
)


def max_variables() -> int:
    """How many distinct variables one lead (or one secondary contact) may carry."""
    return settings.LEADMGR_MAX_VARIABLES_PER_LEAD


def variable_errors(values: Mapping) -> list[str]:
    """What is wrong with a set of variables as a whole: names that break the rule, too many."""
    errors = [
        E_BAD_VARIABLE_NAME.format(name=str(name)[:80]) for name in values if not is_variable_name(name)
    ]
    if len(values) > max_variables():
        errors.append(E_TOO_MANY_VARIABLES.format(limit=max_variables(), count=len(values)))
    return errors


TEMPLATE_VAR_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def definitions(assistant: Assistant) -> list[AssistantVariable]:
    """The assistant's variable definitions in order (uses a prefetch when there is one)."""
    return list(assistant.variables.all())


def defaults(assistant: Assistant) -> dict[str, str]:
    """What a new lead's form is pre-filled with."""
    return {v.name: v.default for v in definitions(assistant)}


def required_names(assistant: Assistant) -> list[str]:
    return [v.name for v in definitions(assistant) if v.required]


def is_set(value: object) -> bool:
    """A value counts as set unless it is None or blank."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _set(values: Mapping[str, object] | None) -> dict[str, object]:
    return {k: v for k, v in (values or {}).items() if is_set(v)}


def inherited(assistant: Assistant, removed: Iterable[str] | None = None) -> dict[str, str]:
    """The defaults a lead inherits: the assistant's set defaults, but those the lead removed."""
    gone = set(removed or ())
    return {name: value for name, value in _set(defaults(assistant)).items() if name not in gone}


def effective(
    assistant: Assistant,
    lead_values: Mapping | None,
    contact_values: Mapping | None = None,
    removed: Iterable[str] | None = None,
) -> dict:
    """Defaults (but the ``removed`` ones), overridden by the lead's values, then the contact's."""
    result = inherited(assistant, removed)
    result |= _set(lead_values)
    result |= _set(contact_values)
    return result


def missing_required(
    assistant: Assistant, lead_values: Mapping | None, removed: Iterable[str] | None = None
) -> list[str]:
    """Names of required variables left empty after defaults; [] when all are set."""
    values = effective(assistant, lead_values, removed=removed)
    return [name for name in required_names(assistant) if name not in values]


def removals(
    assistant: Assistant, removed: Iterable[str], lead_values: Mapping | None
) -> tuple[list[str], list[str]]:
    """What an operator's removal of ``removed`` means for a lead of ``assistant``.

    Returns (the names to store in ``Lead.removed_variables``: defaults of the assistant the lead
    no longer sets, in the assistant's order; the required names among ``removed``, which cannot be
    removed). A removed name the lead sets again is not removed, and one without a default needs
    no marker: leaving the lead's values is enough.
    """
    own = _set(lead_values)
    asked = {name for name in removed if name not in own}
    required = [name for name in required_names(assistant) if name in asked]
    keep = [name for name in inherited(assistant) if name in asked and name not in required]
    return keep, required


def required_check(assistant: Assistant) -> Callable[[Mapping | None], list[str]]:
    """``missing_required`` for many rows of one assistant: the definitions are read once.

    ``required_check(a)(values) == missing_required(a, values)`` for every ``values``.
    """
    filled = _set(defaults(assistant))
    needed = [name for name in required_names(assistant) if name not in filled]

    def missing(lead_values: Mapping | None) -> list[str]:
        if not needed:
            return []
        values = lead_values or {}
        return [name for name in needed if not is_set(values.get(name))]

    return missing


@dataclass
class MoveCheck:
    """What moving a lead's variables to another assistant would break (errors) or leave unused."""

    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def error(self) -> str | None:
        return E_MOVE_MISSING.format(names=", ".join(self.missing)) if self.missing else None

    @property
    def warning(self) -> str | None:
        return W_MOVE_UNKNOWN.format(names=", ".join(self.unknown)) if self.unknown else None


def check_move(lead_values: Mapping | None, new_assistant: Assistant) -> MoveCheck:
    """Check a lead's own values against another assistant: missing required, unknown names."""
    known = {v.name for v in definitions(new_assistant)}
    own = _set(lead_values)
    return MoveCheck(
        missing=missing_required(new_assistant, own),
        unknown=sorted(name for name in own if name not in known),
    )


@dataclass
class RenderedMessage:
    text: str
    missing: list[str]


def render_message(template: str, values: Mapping[str, object]) -> RenderedMessage:
    """Fill ``{{name}}`` placeholders; a placeholder with no value stays visible and is listed."""
    missing: list[str] = []

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        value = values.get(name)
        if not is_set(value):
            if name not in missing:
                missing.append(name)
            return match.group(0)
        return str(value)

    return RenderedMessage(TEMPLATE_VAR_RE.sub(substitute, template or ""), missing)
