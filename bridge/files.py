"""Buyers' data (the state file, the logs) is readable by the user only.

On POSIX the data dir is 0700 and the files in it 0600. On Windows the data dir lies in the
user's profile (platformdirs: %LOCALAPPDATA%), which the profile's ACL already keeps private
to that user, and `chmod` only sets the read-only flag: nothing is changed there.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

POSIX = os.name != "nt"
STATE_FILE = "state.sqlite3"


def private_dir(path: Path) -> None:
    """Create `path` for the user only. An existing folder is tightened only when it is
    Bridge's own (empty, or holding a state file): never a shared folder such as /tmp that
    someone gave as the data dir."""
    existed = path.exists()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not POSIX:
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and (not existed or (path / STATE_FILE).exists() or
                         not any(path.iterdir())):
        path.chmod(0o700)


def private_file(path: Path) -> None:
    """Make an existing file of Bridge's readable by the user only."""
    if POSIX and path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)
