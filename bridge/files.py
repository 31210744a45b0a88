"""Buyers' data (the state file, the logs) is readable by the user only.

On POSIX the data dir is 0700 and the files in it 0600. On Windows the data dir lies in the
user's profile (platformdirs: %LOCALAPPDATA%), which the profile's ACL already keeps private
to that user, and `chmod` only sets the read-only flag: nothing is changed there.

A data dir Bridge cannot use (it cannot be created, or it is read-only) is a StorageError
with one line that names it and says what to do; the commands and the app show that line.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

POSIX = os.name != "nt"
STATE_FILE = "state.sqlite3"

CHOOSE_ANOTHER = "or choose another folder with --data-dir or BRIDGE_DATA_DIR"


class StorageError(Exception):
    """Bridge cannot use its data folder or its state file (read-only, not creatable, the
    disk is full, damaged beyond repair). `message` is one line for people: what, where,
    and what to do. What Bridge was writing when it happened was not recorded (its
    transaction rolled back): nothing else is lost."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def folder_problem(path: Path, exc: OSError, what: str = "data folder") -> StorageError:
    """The StorageError for an OSError met while creating or writing in the data folder
    (or the log folder in it)."""
    reason = exc.strerror or str(exc)
    if path.is_dir():
        return StorageError(
            f"The {what} {path} cannot be written ({reason}): Bridge keeps "
            "its state and logs there. Make it writable for this user, "
            f"{CHOOSE_ANOTHER}."
        )
    return StorageError(
        f"The {what} {path} cannot be created ({reason}). Create it, {CHOOSE_ANOTHER}."
    )


def private_dir(path: Path) -> None:
    """Create `path` for the user only. An existing folder is tightened only when it is
    Bridge's own (empty, or holding a state file): never a shared folder such as /tmp that
    someone gave as the data dir."""
    existed = path.exists()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not POSIX:
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and (not existed or (path / STATE_FILE).exists() or not any(path.iterdir())):
        path.chmod(0o700)


def writable_dir(path: Path) -> None:
    """Create `path` (private_dir) and check that a file can be created in it, before
    anything is started there. Raises StorageError with the line to show."""
    probe = path / f".bridge-write-check-{os.getpid()}"
    try:
        private_dir(path)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise folder_problem(path, exc) from None


def creatable_dir(path: Path) -> None:
    """Raise the StorageError of a folder that does not exist and could not be created
    (something on its path is a file, or the folder above it is read-only). Creates
    nothing: for commands that only look."""
    if path.is_dir():
        return
    above = path
    while not above.exists() and above.parent != above:
        above = above.parent
    if not above.is_dir():
        raise folder_problem(path, NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
    if not os.access(above, os.W_OK | os.X_OK):
        raise folder_problem(path, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))


def private_file(path: Path) -> None:
    """Make an existing file of Bridge's readable by the user only."""
    if POSIX and path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)
