"""The real-tray mechanism: a QSystemTrayIcon shown in Xvfb is docked by a real tray host
(trayer) and gets a real on-screen geometry, which offscreen Qt can never give."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.icons import tray_icon_paths
from tests.xdisplay import real_tray_display

WIDTH, HEIGHT, TRAY_HEIGHT = 1280, 800, 24

# Runs on the real display: argv = [screenshot path, icon files...]. Event loop slices use a
# local QEventLoop: in Qt 6, QApplication.quit() first closes every window, the tray icon's
# included, which undocks it and makes Qt create a new, undocked one.
CHILD = r"""
import json, sys, time
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

app = QApplication([sys.argv[0]])
app.setQuitOnLastWindowClosed(False)
report = {"platform": app.platformName(),
          "available": QSystemTrayIcon.isSystemTrayAvailable()}
icon = QIcon()
for path in sys.argv[2:]:
    icon.addFile(path)
tray = QSystemTrayIcon(icon)
tray.setToolTip("Bridge")
started = time.monotonic()
tray.show()

def spin(ms):
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()

def geometry():
    g = tray.geometry()
    return [g.x(), g.y(), g.width(), g.height()]

# Until docked, Qt reports the icon's own 22x22 window at (0, 0); the host moves it into
# its panel. ~1 s of events, longer only if the host has not docked it by then.
docked_after = None
while time.monotonic() - started < 1.0 or (docked_after is None
                                           and time.monotonic() - started < 6.0):
    spin(20)
    if docked_after is None and geometry()[:2] != [0, 0]:
        docked_after = round(time.monotonic() - started, 3)

# what the panel really shows there (the idle icon is a green disc)
x, y, w, h = geometry()
shot = app.primaryScreen().grabWindow(0, x, y, w, h).toImage()
shot.save(sys.argv[1])
green = 0
for i in range(shot.width()):
    for j in range(shot.height()):
        c = shot.pixelColor(i, j)
        green += c.green() > c.red() + 60 and c.green() > c.blue() + 60
screen = app.primaryScreen().geometry()
report.update(visible=tray.isVisible(), geometry=geometry(), docked_after_s=docked_after,
              green_pixels=green, screen=[screen.x(), screen.y(), screen.width(), screen.height()])
tray.hide()
print(json.dumps(report), flush=True)
"""


@pytest.fixture
def tray_env() -> Iterator[dict[str, str]]:
    with real_tray_display(WIDTH, HEIGHT, TRAY_HEIGHT) as env:
        yield env


def test_tray_icon_is_docked_inside_the_screen(tray_env: dict[str, str], tmp_path: Path) -> None:
    shot = tmp_path / "tray.png"
    icons = [str(p) for p in tray_icon_paths("idle", "light")]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(shot), *icons],
        env=tray_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])

    assert report["platform"] == "xcb"
    assert report["available"] is True, "no tray host seen by Qt"
    assert report["visible"] is True
    assert report["screen"] == [0, 0, WIDTH, HEIGHT]
    assert report["docked_after_s"] is not None, f"the tray host never docked the icon: {report}"
    x, y, w, h = report["geometry"]
    assert w > 0 and h > 0, report
    assert x >= 0 and x + w <= WIDTH and y >= 0 and y + h <= HEIGHT, report
    # trayer sits at the top right edge, so a docked icon is in that strip
    assert y + h <= TRAY_HEIGHT + 2 and x >= WIDTH // 2, report
    # and the panel shows the icon there, not an empty slot (screenshot: `shot`)
    assert report["green_pixels"] >= 0.3 * w * h, (report, str(shot))


def test_offscreen_qt_has_no_tray() -> None:
    """Why the fixture exists: the offscreen platform never reports a system tray."""
    code = (
        "from PySide6.QtWidgets import QApplication, QSystemTrayIcon\n"
        "app = QApplication([])\n"
        "print(QSystemTrayIcon.isSystemTrayAvailable())\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


# The real app (its demo) on the real display: argv = [data dir].
APP_CHILD = r"""
import asyncio, json, sys
from pathlib import Path
import PySide6.QtWidgets  # before qasync
import qasync
from PySide6.QtWidgets import QApplication
from bridge.config import Paths
from ui.app import BridgeApp
from ui.i18n import set_language

app = QApplication([sys.argv[0]])
app.setQuitOnLastWindowClosed(False)
set_language("es_AR")

async def main():
    data = Path(sys.argv[1])
    bridge = BridgeApp(Paths(data / "config.toml", data), demo=True, demo_variants=200)
    task = asyncio.ensure_future(bridge.run())
    await asyncio.wait_for(bridge.ready.wait(), 60)
    docked = False
    for _ in range(300):
        g = bridge.tray.icon.geometry()
        if (g.x(), g.y()) != (0, 0):
            docked = True
            break
        await asyncio.sleep(0.02)
    world = bridge.controller.demo
    for _ in range(500):
        if len(world.erp.orders) >= 3:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    g = bridge.tray.icon.geometry()
    report = {"use_tray": bridge.use_tray, "visible": bridge.tray.icon.isVisible(),
              "docked": docked, "geometry": [g.x(), g.y(), g.width(), g.height()],
              "window_visible": bridge.window.isVisible(), "orders": len(world.erp.orders),
              "tooltip": bridge.tray.icon.toolTip(), "state": bridge.tray.state,
              "menu": [a.text() for a in bridge.tray.menu.actions() if a.text()]}
    bridge.quit()
    report["exit"] = await task
    print(json.dumps(report), flush=True)

qasync.run(main())
"""


def test_bridge_demo_shows_its_icon_in_a_real_tray(tray_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", APP_CHILD, str(tmp_path / "data")],
                          env=tray_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["use_tray"] is True and report["visible"] is True
    assert report["docked"], report
    x, y, w, h = report["geometry"]
    assert w > 0 and h > 0 and y + h <= TRAY_HEIGHT + 2 and x >= WIDTH // 2, report
    # with a tray, the window stays hidden until asked for
    assert report["window_visible"] is False
    assert report["orders"] >= 3
    assert report["tooltip"].startswith("Bridge — ")
    menu = report["menu"]
    assert menu[:3] == ["Sincronizar ahora", "Pausar", "Ver registro"], menu
    assert menu[3].startswith("Errores (") and menu[4] == "Configuración", menu
    assert menu[-2:] == ["Acerca de", "Salir"], menu
    assert report["exit"] == 0
