"""A worker's pass report: counts that add up, field by field, over a run of passes."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Self


@dataclasses.dataclass
class Tally:
    """Base of a pass report (a dataclass of int and Counter fields): ``add`` sums another into it.

    The campaign runner's ``TickReport`` and the webhook worker's ``PassReport`` total their passes
    this way for the command's closing summary.
    """

    def add(self, other: Self) -> None:
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            else:
                setattr(self, f.name, mine + theirs)
