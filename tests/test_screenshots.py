"""The screenshot tool on a Windows laptop at 150 % (1366×768 pixels, 911×512 logical, a
taskbar below): the main window and the Settings fit above the taskbar, the Save button in
view. The tool runs as the merchant's app would (a process of its own, Qt's scale factor set
before Qt starts), on the demo's simulators, and exits 1 when a window does not fit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

ROOT = Path(__file__).resolve().parent.parent


def test_main_window_and_settings_fit_a_laptop_at_150_percent(tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "launcher.screenshots", str(tmp_path), "--scaled", "1.5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    print(f"the 150 % screen took {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "does not fit" not in done.stderr
    shot = QImage(str(tmp_path / "settings-150.png"))
    assert (shot.width(), shot.height()) == (1366, 768)
