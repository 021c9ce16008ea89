"""gunicorn's settings for leadmgr (read from the working directory: `gunicorn` alone uses it).

HOST (127.0.0.1:8000, as for `make run`) or PORT (a platform's, binds 0.0.0.0:PORT) says where to
listen; WEB_CONCURRENCY how many worker processes (default: 2 per core + 1). Requests are logged by
the app itself (leadmgr.request, with their request id), so gunicorn's access log stays off.
"""

from __future__ import annotations

import os

wsgi_app = "leadmgr.wsgi:application"
bind = [os.environ.get("HOST") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * len(os.sched_getaffinity(0)) + 1)
# SIGTERM: stop accepting, let requests under way finish for up to graceful_timeout s, exit 0.
graceful_timeout = 30
timeout = 60
accesslog = None
errorlog = "-"
# The runtime control socket has one default path per user: two instances on one machine (two
# checkouts, a test beside `make serve`) would take it from each other. Nothing here uses it.
control_socket_disable = True
