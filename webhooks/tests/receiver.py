"""A real HTTP receiver for the tests: a ThreadingHTTPServer on 127.0.0.1, port chosen by the system.

It records every whole POST (headers, body) and answers ``status`` (a callable per request may decide;
a body that is not JSON gets 400); a request cut short by its sender's death (``kill -9`` mid-body)
is dropped unrecorded, as nothing was delivered.
``stop()`` closes the port (connections refused: a receiver that is down) and ``start()`` opens the
same port again.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status = status
        self.delay = delay
        self.decide = None  # optional: (body dict) -> status
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (kill -9): nothing was delivered
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    event = json.loads(body)
                except ValueError:
                    event = None
                if event is None:
                    status = 400  # as a real receiver answers a body it cannot read
                else:
                    status = receiver.decide(event) if receiver.decide else receiver.status
                with receiver.lock:
                    receiver.received.append(
                        {"headers": dict(self.headers), "body": body, "event": event, "status": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self) -> list[dict]:
        """The events answered 2xx, in the order they arrived."""
        with self.lock:
            return [r["event"] for r in self.received if 200 <= r["status"] < 300]
