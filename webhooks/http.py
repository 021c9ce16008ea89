"""A small HTTP client for deliveries: one kept-alive connection per receiver and thread.

The standard library's ``http.client`` is enough for JSON POSTs, and keeping the connection open
is what makes hundreds of deliveries a second possible (``urllib.request`` opens one per request).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_AGENT = "leadmgr-webhooks/1"
MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer read (and ignored); a longer one closes the line


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoDelay:
    """Small requests go out at once (as urllib3 does): without TCP_NODELAY, Nagle's algorithm and
    the receiver's delayed ACK can hold each POST on a kept-alive line for 40 ms."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPConnection(_NoDelay, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_NoDelay, http.client.HTTPSConnection):
    pass


class Client:
    def __init__(self, *, timeout: float):
        self.timeout = timeout
        self._local = threading.local()
        self._ssl = ssl.create_default_context()

    def _connections(self) -> dict:
        if not hasattr(self._local, "connections"):
            self._local.connections = {}
        return self._local.connections

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        parts = urlsplit(f"{scheme}://{netloc}")
        if scheme == "https":
            return _HTTPSConnection(parts.hostname, parts.port, timeout=self.timeout, context=self._ssl)
        return _HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return Answer(None, "The URL is not an http(s) URL.")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.netloc)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
        connections = self._connections()
        for fresh in (False, True):
            conn = connections.get(key) if not fresh else None
            reused = conn is not None
            if conn is None:
                conn = connections[key] = self._connect(parts.scheme, parts.netloc)
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                response.read(MAX_ANSWER)
                if not response.isclosed() and response.length:  # more than we read: drop the line
                    conn.close()
                    connections.pop(key, None)
                elif response.will_close:
                    connections.pop(key, None)
                return Answer(response.status)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                connections.pop(key, None)
                if reused and not fresh:
                    continue  # the receiver closed a kept-alive line meanwhile: once more on a new one
                return Answer(None, _describe(exc))
            except TimeoutError:
                conn.close()
                connections.pop(key, None)
                return Answer(None, f"No answer within {self.timeout:g} s.")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                connections.pop(key, None)
                return Answer(None, _describe(exc))
        return Answer(None, "The connection failed.")  # pragma: no cover - the loop always returns

    def close(self) -> None:
        for conn in self._connections().values():
            conn.close()
        self._connections().clear()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"Could not deliver: {text}"[:300]
