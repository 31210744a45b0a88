"""Bundled data (icons, translations), found next to this package — also in a frozen
build, where PyInstaller puts the package and its data under `sys._MEIPASS`."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_dir(*parts: str) -> Path:
    """`resources/<parts>`: beside this file when run from source or installed; in a frozen
    bundle, under `sys._MEIPASS` should the module's `__file__` not lead there."""
    here = Path(__file__).resolve().parent.joinpath(*parts)
    meipass = getattr(sys, "_MEIPASS", None)
    if not here.is_dir() and meipass:
        frozen = Path(meipass, "resources", *parts)
        if frozen.is_dir():
            return frozen
    return here
