"""collectstatic writes gzip copies only, whether or not the brotli module is importable (the load
test's tools install it; requirements.txt does not)."""

from __future__ import annotations

import importlib.util

from django.core.management import call_command
from django.test import override_settings

from leadmgr.adaptations import GzipManifestStaticFilesStorage

STORAGE = {"BACKEND": "leadmgr.adaptations.GzipManifestStaticFilesStorage"}


def test_the_compressor_never_uses_brotli():
    compressor = GzipManifestStaticFilesStorage().create_compressor(quiet=True)
    assert (compressor.use_gzip, compressor.use_brotli) == (True, False)


def test_collectstatic_writes_hashed_names_and_gzip_copies_and_no_brotli(tmp_path, settings):
    assert importlib.util.find_spec("brotli") is not None  # the case this guards against
    settings.STATIC_ROOT = tmp_path
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": STORAGE}):
        call_command("collectstatic", "--noinput", verbosity=0)
    written = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert any(name.endswith(".css.gz") for name in written)
    assert [name for name in written if name.endswith(".br")] == []
