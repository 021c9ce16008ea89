"""A provider with no outside service: outcomes from a weighted mix, durations like real calls.

Each call's outcome and duration come from a generator seeded with (seed, call id), so a run is
reproducible whichever worker places the call. The result is due after the call's duration divided
by ``speedup`` (0: at once); the runner collects due results and hands them to the one result handler.
A worker that stops loses its pending results: lease recovery then ends those attempts as lost.
"""

from __future__ import annotations

import heapq
import random
import time

from .base import OUTCOMES, CallRequest, CallResult, Placement

# Seconds a call with each outcome lasts (uniform between the bounds).
DURATIONS = {
    "completed": (45, 240),
    "no_answer": (25, 40),
    "busy": (2, 6),
    "voicemail": (20, 45),
    "failed": (1, 4),
}

E_MIX = (
    "LEADMGR_SIMULATED_MIX must list outcome:weight pairs separated by commas, outcomes among "
    "{outcomes}, weights whole numbers not all zero; got {raw!r}."
)


def parse_mix(raw: str) -> dict[str, int]:
    """'completed:30,no_answer:30' → {'completed': 30, 'no_answer': 30}; ValueError when malformed."""
    mix: dict[str, int] = {}
    try:
        for part in raw.split(","):
            name, _, weight = part.strip().partition(":")
            name = name.strip()
            if name not in OUTCOMES or name in mix:
                raise ValueError(name)
            mix[name] = int(weight)
            if mix[name] < 0:
                raise ValueError(weight)
    except ValueError:
        raise ValueError(E_MIX.format(outcomes=", ".join(OUTCOMES), raw=raw)) from None
    if not mix or not sum(mix.values()):
        raise ValueError(E_MIX.format(outcomes=", ".join(OUTCOMES), raw=raw))
    return mix


class SimulatedProvider:
    name = "simulated"

    def __init__(self, *, mix: dict[str, int], seed: int, speedup: int, clock=time.monotonic):
        self.outcomes = list(mix)
        self.weights = [mix[o] for o in self.outcomes]
        self.seed = seed
        self.speedup = speedup
        self.clock = clock
        self._pending: list[tuple[float, int, CallResult]] = []

    def draw(self, call_id: int) -> tuple[str, int]:
        rng = random.Random(f"{self.seed}:{call_id}")
        outcome = rng.choices(self.outcomes, self.weights)[0]
        low, high = DURATIONS[outcome]
        return outcome, rng.randint(low, high)

    def place(self, requests: list[CallRequest]) -> list[Placement]:
        placements = []
        for request in requests:
            outcome, seconds = self.draw(request.call_id)
            ref = f"sim-{self.seed}-{request.call_id}"
            due = self.clock() + (seconds / self.speedup if self.speedup else 0)
            result = CallResult(request.call_id, outcome, ref, detail=f"Simulated call of {seconds} s.")
            heapq.heappush(self._pending, (due, request.call_id, result))
            # The reference is written with the result (one write per call instead of two).
            placements.append(Placement(request.call_id, True))
        return placements

    def due_results(self) -> list[CallResult]:
        now, results = self.clock(), []
        while self._pending and self._pending[0][0] <= now:
            results.append(heapq.heappop(self._pending)[2])
        return results

    def in_flight(self) -> int:
        return len(self._pending)

    def next_due_in(self) -> float | None:
        """Seconds until the next result is due (None when nothing is pending)."""
        return max(0.0, self._pending[0][0] - self.clock()) if self._pending else None
