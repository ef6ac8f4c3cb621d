"""Why a run or an analysis failed, as a sentence for its page: what went wrong, where, and the
fix. The traceback goes to the worker's log (the caller logs it), not to the page."""
from __future__ import annotations

import errno

from django.conf import settings

from trainer.catalog import DataError
from trainer.checkpoint import CheckpointError
from trainer.fields import ConfigError
from trainer.nets import NetError

LIMIT = 2000  # characters kept of a message


def explain(e: BaseException) -> str:
    if isinstance(e, (ConfigError, DataError, NetError, CheckpointError)):
        text = str(e)
    elif isinstance(e, MemoryError):
        text = ("the worker ran out of memory. Use a smaller batch, subset or network, or run fewer runs at once "
                "on this machine.")
    elif isinstance(e, OSError) and e.errno == errno.ENOTDIR:
        text = (f"the worker cannot make the folder {e.filename or 'it needs'}: part of that path is a file, not a "
                f"folder. Move the file away, or point LBLAB_RUNS_DIR (now {settings.LBLAB_RUNS_DIR}) elsewhere.")
    elif isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        path = e.filename or "a file"
        text = (f"the worker may not write {path} ({e.strerror}). Make that folder writable by the worker's "
                f"user, or point LBLAB_RUNS_DIR (now {settings.LBLAB_RUNS_DIR}) at a folder it can write.")
    elif isinstance(e, OSError) and e.errno == errno.ENOSPC:
        text = (f"the disk is full{f' writing {e.filename}' if e.filename else ''}. Free space there, or point "
                f"LBLAB_RUNS_DIR (now {settings.LBLAB_RUNS_DIR}) at a larger disk, then resume the run.")
    elif isinstance(e, OSError) and e.filename:
        text = f"{e.strerror or type(e).__name__} for {e.filename}."
    else:
        detail = str(e).strip() or "no message"
        text = f"{type(e).__name__}: {detail}"
    return f"{text[:LIMIT]} (the worker's log has the traceback)"
