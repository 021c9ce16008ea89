"""SIGTERM and Ctrl-C as a request to stop that a worker's loop checks and sleeps on.

A handler must not take a lock: Python runs it in the main thread between two bytecodes, perhaps
while that thread holds the very lock (``threading.Event.set()`` from a handler that interrupted
``Event.wait()`` inside its condition waits for itself forever; Python's ``signal`` documentation
warns of it). So the handler only sets a flag and writes a byte to a pipe, and ``wait`` sleeps in
``select`` on that pipe: a signal during the sleep ends it at once, one just before it finds the byte.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Installs the handlers (from the main thread); ``is_set()`` and ``wait(timeout)`` as an Event's."""

    def __init__(self, signals: tuple[signal.Signals, ...] = SIGNALS):
        self._requested = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        for sig in signals:
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self._requested = True
        with contextlib.suppress(BlockingIOError):  # full of earlier signals' bytes: it wakes anyway
            os.write(self._write, b"\0")

    def is_set(self) -> bool:
        return self._requested

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` s, less when a stop is requested; returns whether it is."""
        if not self._requested:
            select.select([self._read], [], [], max(timeout, 0))
        return self._requested
