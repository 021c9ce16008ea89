"""The reasons the runner skips a number without dialling it, as stored values.

Both ``CallAttempt.Outcome`` (the skipped dial, kept so the lead's calls say why) and
``RunnerDecision.Reason`` (the campaign's count of skipped leads) record them, each with its own
label; ``compliance.dialing`` answers with them. A module of plain values, so the models can import
it without importing the apps that import them.
"""

from __future__ import annotations

DO_NOT_CALL = "do_not_call"
FREQUENCY_CAP = "frequency_cap"
SKIP_OUTCOMES = (DO_NOT_CALL, FREQUENCY_CAP)  # rows that record a skip, not a dial
