"""The tests' receiver counts only what a real receiver would have taken: whole bodies of JSON.

A worker killed with ``kill -9`` mid-POST leaves a request with fewer bytes than its Content-Length;
the kill test once counted such a request as an accepted event with no body (and failed on it).
"""

import socket
import time

from webhooks.http import Client


def post(receiver, body: bytes) -> int | None:
    client = Client(timeout=5)
    try:
        return client.post(receiver.url, body, {}).status
    finally:
        client.close()


def wait_until(condition, timeout: float = 5.0) -> None:
    started = time.monotonic()
    while not condition() and time.monotonic() - started < timeout:
        time.sleep(0.01)


def test_a_request_cut_short_by_its_senders_death_is_not_recorded(receiver):
    with socket.create_connection(("127.0.0.1", receiver.port)) as sock:
        sock.sendall(
            b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"id": "cut'
        )
    # A whole request after it, so the receiver has surely handled the first one.
    assert post(receiver, b'{"id": "whole"}') == 200
    wait_until(lambda: len(receiver.received) >= 1)
    time.sleep(0.1)
    assert [r["event"] for r in receiver.received] == [{"id": "whole"}]
    assert receiver.accepted() == [{"id": "whole"}]


def test_a_body_that_is_not_json_is_answered_400_and_not_accepted(receiver):
    assert post(receiver, b"not json") == 400
    assert receiver.accepted() == []
