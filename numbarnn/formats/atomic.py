"""Write a file so that it is either the previous complete file or the new complete one, never half of either.

The bytes go to a temporary file in the same folder (``.<name>.tmp-<pid>-<random>``),
which is flushed, synced to disk and renamed over the target (a rename within one
folder is atomic). A process killed at any moment leaves the previous file in place
and, at worst, a temporary file, which the next write of the same path removes.
"""

import os
import uuid

__all__ = ["write_atomically", "remove_stale_temporaries"]


def remove_stale_temporaries(folder, name):
    """Remove the temporary files that earlier, interrupted writes of ``name`` left in ``folder``."""
    prefix = f".{name}.tmp-"
    for entry in os.listdir(folder):
        if entry.startswith(prefix):
            try:
                os.remove(os.path.join(folder, entry))
            except OSError:
                pass


def write_atomically(filepath, fill, text=False):
    """Write ``filepath`` through a temporary file renamed into place.

    Parameters
    ----------
    filepath : str or path-like
    fill : callable
        Called with the open temporary file (binary, or text with ``text=True``); writes the content.
    text : bool, default=False
    """
    filepath = os.fspath(filepath)
    folder, name = os.path.split(os.path.abspath(filepath))
    remove_stale_temporaries(folder, name)
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w" if text else "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
