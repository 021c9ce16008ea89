"""The workers' stop request: a signal ends the sleep at once and can never wait on a lock.

``run_campaigns`` and ``deliver_webhooks`` once set a ``threading.Event`` from their SIGTERM handler:
a signal handled while the main thread was inside that Event's ``wait()`` (holding its lock) waited
for itself, and the worker never stopped (seen once in CI: a runner not gone 90 s after SIGTERM).
"""

import os
import signal
import sys
import threading
import time

import pytest

from leadmgr.stopping import StopRequest


@pytest.fixture
def stop():
    previous = signal.getsignal(signal.SIGUSR1)
    yield StopRequest(signals=(signal.SIGUSR1,))
    signal.signal(signal.SIGUSR1, previous)


def test_a_signal_during_the_sleep_ends_it_at_once(stop):
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    started = time.monotonic()
    assert stop.wait(30) is True
    assert 0.15 < time.monotonic() - started < 5
    assert stop.is_set()


def test_without_a_signal_it_sleeps_the_whole_timeout(stop):
    started = time.monotonic()
    assert stop.wait(0.2) is False
    assert time.monotonic() - started >= 0.19
    assert not stop.is_set()


def _lines_of_wait() -> list[int]:
    """Its lines up to the sleep (a signal at the ``return`` came after the sleep)."""
    code = StopRequest.wait.__code__
    lines = sorted({line for _, _, line in code.co_lines() if line and line > code.co_firstlineno})
    return lines[:-1]


@pytest.mark.parametrize("line", _lines_of_wait())
def test_a_signal_handled_at_any_line_of_the_wait_still_stops_it(stop, line):
    """As Python may run the handler between any two lines of the main thread: here at ``line``."""
    code = StopRequest.wait.__code__

    def tracer(frame, event, arg):
        if frame.f_code is code:

            def local(frame, event, arg):
                if event == "line" and frame.f_lineno == line and not stop.is_set():
                    stop._handle(signal.SIGUSR1, frame)  # Python running the handler right here
                return local

            return local
        return None

    started = time.monotonic()
    sys.settrace(tracer)
    try:
        woke = stop.wait(10)
    finally:
        sys.settrace(None)
    assert time.monotonic() - started < 5, "the sleep ran on after the signal"
    assert woke is True
