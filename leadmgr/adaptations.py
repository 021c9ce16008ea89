"""Where the project changes a library's behaviour: each adaptation, why, and the version it was
written (and measured) for. ``TESTED_WITH`` is pinned by a test, so an upgrade of one of these
libraries fails loudly until someone checks the adaptation still fits and measures it again.

- ``remember_render_signatures``: django-tables2 reads a render function's signature once per
  function, not once per cell (a global patch of ``django_tables2.utils.signature``);
- ``GzipManifestStaticFilesStorage``: whitenoise's hashed static files with gzip copies only, never
  Brotli (through the hook whitenoise offers, ``create_compressor``).
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

from django_tables2 import utils as tables2_utils
from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage

# The versions these adaptations were written and measured for (requirements.txt pins the same).
TESTED_WITH = {"django-tables2": "3.0.1", "whitenoise": "6.12.0"}


def remember_render_signatures() -> None:
    """Make django-tables2 read each render function's signature once, not once per cell.

    The library asks ``inspect.signature`` which arguments a column's render function takes
    (``utils.call_with_appropriate``) for every cell it draws: a sixth of a leads-table page
    (page 1 at 1M, 80 alternating requests: median 50.7 -> 42.4 ms). A function's signature does
    not change, so it is kept per function (a bound method by its function, without ``self``),
    weakly, so a function made per table goes with it. Called once, from ``LeadmgrConfig.ready``.
    """
    original = tables2_utils.signature
    if getattr(original, "remembers", False):
        return
    known: dict[bool, weakref.WeakKeyDictionary] = {
        True: weakref.WeakKeyDictionary(),  # bound methods, by their function
        False: weakref.WeakKeyDictionary(),  # functions and other callables
    }

    def signature(fn):
        bound = inspect.ismethod(fn)
        key = fn.__func__ if bound else fn
        try:
            return known[bound][key]
        except KeyError:
            known[bound][key] = result = original(fn)
            return result
        except TypeError:  # a callable that cannot be weakly referenced
            return original(fn)

    signature.remembers = True
    signature.__wrapped__ = original
    tables2_utils.signature = signature


class GzipManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """The static files storage: whitenoise's hashed names with gzip copies, and gzip only.

    whitenoise also writes Brotli copies whenever the ``brotli`` module happens to be importable,
    which the load test's tools bring into a development environment (locust → geventhttpclient →
    brotli) but requirements.txt does not: collectstatic then took four times as long (5 → 20 s on a
    busy machine) and what a deployment serves would depend on what else was installed beside it.
    """

    def create_compressor(self, **kwargs: Any) -> Compressor:
        return super().create_compressor(**kwargs, use_brotli=False)
