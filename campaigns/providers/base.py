"""The provider interface: plain dataclasses in and out, no models.

The runner hands a provider ``CallRequest``s; ``place`` says for each whether the provider took the
call (its reference) or refused it (why). Results come later as ``CallResult``s through ONE handler
(``campaigns.runner.handle_results``): the http provider's arrive on the signed callback endpoint,
the simulated provider's are collected by the runner from ``due_results``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

# The outcomes of one dial. Only "completed" is a success.
OUTCOMES = ("completed", "no_answer", "busy", "voicemail", "failed")
SUCCESS = "completed"


@dataclass(frozen=True)
class CallRequest:
    call_id: int  # our reference for the dial (a CallAttempt id): the result must quote it
    lead_id: int
    attempt: int
    to: str  # the E.164 number dialled now
    numbers: list[str]  # every number of the lead, in calling order
    contact_index: int  # 0: the primary number; n: the n-th secondary contact
    variables: dict  # the effective variables of the contact being called
    message: str  # the assistant's message rendered with them
    campaign: str
    assistant: str
    callback_url: str = ""


@dataclass(frozen=True)
class Placement:
    """The provider's answer to a request: accepted with a reference, or refused with why."""

    call_id: int
    accepted: bool
    provider_ref: str = ""
    detail: str = ""


@dataclass(frozen=True)
class CallResult:
    call_id: int
    outcome: str  # one of OUTCOMES
    provider_ref: str = ""
    ended_at: dt.datetime | None = None
    detail: str = ""

    @property
    def succeeded(self) -> bool:
        return self.outcome == SUCCESS


class Provider(Protocol):
    name: str

    def place(self, requests: list[CallRequest]) -> list[Placement]:
        """Start the calls; one Placement per request, in order. Never raises for one bad call."""

    def due_results(self) -> list[CallResult]:
        """Results ready to hand to the runner now (asynchronous providers return [])."""

    def in_flight(self) -> int:
        """Calls this process placed whose result it still owes (0 for callback providers)."""
