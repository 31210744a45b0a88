"""PySide6 6.12.0 on CPython 3.11 over-releases a reference to None on every call to a void
Qt method; None's refcount reaches zero after a few thousand calls and the process aborts
(none_dealloc). pyproject.toml pins 6.11.x below Python 3.12 (where None is immortal).
This soaks the installed build with many void calls in a child process."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
ITERATIONS = 25_000  # x 4 void calls each: 100,000 calls; 6.12.0 aborts within ~5,000
MAX_NONE_DROP = 1_000

CHILD = r"""
import json, sys
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QWidget

app = QApplication([sys.argv[0]])
widget = QWidget()
label = QLabel(widget)
timer = QTimer()
texts = ["a", "b"]
before = sys.getrefcount(None)
calls = 0
for i in range(int(sys.argv[1])):
    widget.setEnabled(i % 2 == 0)    # QWidget.setEnabled -> void
    label.setText(texts[i % 2])      # QLabel.setText -> void
    timer.setObjectName(texts[i % 2])  # QObject.setObjectName -> void
    timer.stop()                     # QTimer.stop -> void
    calls += 4
after = sys.getrefcount(None)
print(json.dumps({"pyside": pyside_version, "python": list(sys.version_info[:3]),
                  "calls": calls, "none_before": before, "none_after": after}), flush=True)
"""


def installed_pyside() -> Version:
    return Version(importlib.metadata.version("pyside6-essentials"))


def test_void_calls_do_not_leak_none() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ITERATIONS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, (
        f"child exited {proc.returncode} (PySide6 {installed_pyside()}, Python "
        f"{sys.version.split()[0]}); stderr:\n{proc.stderr[-2000:]}"
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["calls"] >= 20_000
    if sys.version_info < (3, 12):  # from 3.12 None is immortal and its refcount is fixed
        drop = report["none_before"] - report["none_after"]
        assert drop <= MAX_NONE_DROP, f"None lost {drop} references: {report}"


def test_installed_pyside_matches_the_pin() -> None:
    version = installed_pyside()
    if sys.version_info < (3, 12):
        assert version != Version("6.12.0"), "PySide6 6.12.0 aborts on Python 3.11"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [Requirement(dep) for dep in pyproject["project"]["dependencies"]]
    active = [
        r
        for r in pins
        if r.name.lower() == "pyside6-essentials" and (r.marker is None or r.marker.evaluate())
    ]
    assert len(active) == 1, [str(r) for r in active]
    assert active[0].specifier.contains(version, prereleases=True), (
        f"installed pyside6-essentials {version} is outside the pin {active[0]}"
    )
