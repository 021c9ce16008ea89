"""The static files storage: whitenoise's hashed names with gzip copies, and gzip only.

whitenoise also writes Brotli copies whenever the ``brotli`` module happens to be importable, which
the load test's tools bring into a development environment (locust → geventhttpclient → brotli)
but requirements.txt does not: collectstatic then took four times as long (5 → 20 s on a busy
machine) and what a deployment serves would depend on what else was installed beside it.
"""

from __future__ import annotations

from typing import Any

from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage


class GzipManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def create_compressor(self, **kwargs: Any) -> Compressor:
        return super().create_compressor(**kwargs, use_brotli=False)
