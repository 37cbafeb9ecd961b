"""Replace a file atomically, leaving nothing behind even when the writer is killed.

`write_atomically(path, write)` writes into a temporary file in the same directory as ``path``
and moves it over ``path`` with one ``os.replace``: readers see the old file or the new one,
never a mix. A writer killed by ``SIGKILL`` cannot remove its own temporary file, so every
temporary file is findable and provably abandoned:

* its name is ``.jaxnn-<h>-<r>.tmp``: ``<h>`` is 16 hex digits of a hash of the target's file
  name (the same for every save to that path), ``<r>`` 8 random hex digits. Short whatever the
  target's name, so a 250-character file name does not overflow the file system's limit;
* the writer holds an exclusive ``flock`` on it from creation until after the rename; the
  kernel drops the lock when the process dies, however it dies.

`remove_stale_temps(path)` (run by every save and load) deletes the temporary files of
``path`` that nobody holds a lock on: those whose writer died. A save in progress in another
process keeps its file. Where ``flock`` is unavailable (Windows) it deletes what the
operating system lets it (Windows refuses to delete a file another process has open).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_TAG = ".jaxnn-"
_SUFFIX = ".tmp"


def temp_prefix(path: str) -> str:
    """The start of every temporary file name used to write ``path`` (a function of its name)."""
    name = os.path.basename(path).encode("utf-8", "surrogateescape")
    return _TAG + hashlib.sha256(name).hexdigest()[:16] + "-"


def remove_stale_temps(path: str) -> int:
    """Delete the temporary files that a killed save to ``path`` left; return how many.

    ``path`` must be absolute. Never raises: a directory that cannot be listed, or a file that
    cannot be deleted, is left as it is (loading from a read-only directory still works).
    """
    directory, prefix = os.path.dirname(path), temp_prefix(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    removed = 0
    for name in names:
        if name.startswith(prefix) and name.endswith(_SUFFIX):
            removed += _remove_if_abandoned(os.path.join(directory, name))
    return removed


def _remove_if_abandoned(tmp: str) -> bool:
    """Delete ``tmp`` unless a live writer holds its lock; True if it was deleted."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
    except OSError:
        return False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                # Locked: a save is writing it right now. Any other error (a file system
                # without locks) means we cannot tell, and a live file must never be deleted.
                return False
            # Holding the lock, make sure the name still is the file we locked.
            with contextlib.suppress(OSError):
                if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                    os.unlink(tmp)
                    return True
            return False
    finally:
        os.close(fd)
    try:
        os.unlink(tmp)  # no flock: Windows refuses if the file is open elsewhere
        return True
    except OSError:
        return False


def _create_locked_temp(path: str) -> tuple[int, str]:
    """Create and lock a fresh temporary file next to ``path``; return ``(fd, temp_path)``."""
    directory, prefix = os.path.dirname(path), temp_prefix(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(directory, prefix + secrets.token_hex(4) + _SUFFIX)
        try:
            # 0o666: the umask decides the permissions, as for a plain open().
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits only while a cleaner inspects it
        except OSError:
            return fd, tmp  # no locks on this file system: unprotected, but it still works
        # Between creating and locking, another process's cleanup may have taken the file
        # for abandoned and deleted it: then start again under a new name.
        try:
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)


def write_atomically(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary file, then move it over ``path`` in one step.

    ``path`` must be absolute and its directory must exist. On any error (or interruption) the
    temporary file is removed and the previous file at ``path``, if any, is untouched. An
    existing file's permission bits are kept. The data and the rename are ``fsync``-ed.
    """
    remove_stale_temps(path)
    fd, tmp = _create_locked_temp(path)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            write(f)
            f.flush()
            os.fsync(fd)
        if os.path.exists(path):
            mode = os.stat(path).st_mode & 0o7777
            os.fchmod(fd, mode) if hasattr(os, "fchmod") else os.chmod(tmp, mode)
        if fcntl is None:  # Windows cannot rename an open file
            os.close(fd)
            fd = -1
        # Still holding the lock: no cleanup can delete the file before it has its real name.
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if fd >= 0:
            os.close(fd)
    _fsync_directory(os.path.dirname(path))


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
