"""collectstatic when the static sources changed, and only then.

Pages name their scripts and styles by content hash through collectstatic's manifest
(settings.STORAGES), so the manifest must exist before a page renders: `runlab` calls
`collect_if_changed()` before it starts the web server, and so do the tests. The sources'
fingerprint (every file the finders list, with its size and modification time: the
project's static/, the apps', BokehJS from the bokeh package) is kept beside the
collected files; a collection is needed when it differs or the manifest is missing.

STATIC_ROOT is shared by every lab of a checkout (it is derived from the code, not a lab's
data), so a lock keeps labs and test sessions started at once from collecting over one
another. Collecting never deletes: the hashed names an already running server serves stay.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import posixpath
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders

STAMP = "sources.sha256"  # in STATIC_ROOT, beside the manifest
IGNORE = ["CVS", ".*", "*~"]  # collectstatic's default ignore patterns


def sources_fingerprint() -> str:
    """A digest of what collectstatic would collect and how (the storage, brotli or not)."""
    entries = []
    for finder in finders.get_finders():
        for path, storage in finder.list(IGNORE):
            prefix = getattr(storage, "prefix", None) or ""
            stat = os.stat(storage.path(path))
            entries.append((posixpath.join(prefix, path), stat.st_size, stat.st_mtime_ns))
    how = {"storage": settings.STORAGES["staticfiles"], "brotli": _brotli_installed()}
    return hashlib.sha256(json.dumps([how, sorted(entries)]).encode()).hexdigest()


def _brotli_installed() -> bool:
    from whitenoise.compress import brotli_installed

    return brotli_installed


def is_current(root: Path, fingerprint: str) -> bool:
    stamp = root / STAMP
    return (root / "staticfiles.json").exists() and stamp.exists() and stamp.read_text().strip() == fingerprint


@contextlib.contextmanager
def _locked(root: Path):
    with open(root / ".collect.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def collect_if_changed(say=None) -> bool:
    """Run collectstatic unless the files collected last are from the same sources; True when it ran."""
    from django.core.management import call_command

    root = Path(settings.STATIC_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        fingerprint = sources_fingerprint()
        if is_current(root, fingerprint):
            return False
        if say:
            say("collecting the static files (hashed names, compressed copies) ...")
        (root / STAMP).unlink(missing_ok=True)
        call_command("collectstatic", interactive=False, verbosity=0)
        (root / STAMP).write_text(fingerprint + "\n")
    return True
