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
from tests.conftest import under_wine
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
    if sys.platform == "win32":
        pytest.skip("an X11 tray (Xvfb + trayer): Windows has its own tray test below")
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


# Both app children start the real app's demo the same way (data in the given folder).
DEMO_APP = r"""
def shown(text):
    # what a menu shows of an item's text: "&" marks the mnemonic, "&&" is an "&"
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")

async def start_demo(data):
    bridge = BridgeApp(
        Paths(data / "config.toml", data),
        demo=True,
        demo_variants=200,
        demo_starter=start_demo_for_ui,
    )
    task = asyncio.ensure_future(bridge.run())
    await asyncio.wait_for(bridge.ready.wait(), 60)
    return bridge, task
"""

# The real app (its demo) on the real display: argv = [data dir].
APP_CHILD = (
    r"""
import asyncio, json, sys
from pathlib import Path
import PySide6.QtWidgets  # before qasync
import qasync
from PySide6.QtWidgets import QApplication
from bridge.config import Paths
from launcher.demo import start_demo_for_ui
from ui.app import BridgeApp
from ui.i18n import set_language

app = QApplication([sys.argv[0]])
app.setQuitOnLastWindowClosed(False)
set_language("es_AR")
"""
    + DEMO_APP
    + r"""
async def main():
    bridge, task = await start_demo(Path(sys.argv[1]))
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
              "menu": [shown(a.text()) for a in bridge.tray.menu.actions() if a.text()]}
    bridge.quit()
    report["exit"] = await task
    print(json.dumps(report), flush=True)

qasync.run(main())
"""
)


def test_bridge_demo_shows_its_icon_in_a_real_tray(
    tray_env: dict[str, str], tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", APP_CHILD, str(tmp_path / "data")],
        env=tray_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
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
    # first the state line (disabled), then the commands
    assert menu[0].startswith("Bridge — "), menu
    assert menu[1:5] == ["Sincronizar ahora", "Pausar", "Pausar por un tiempo…", "Ver registro"]
    assert menu[5].startswith("Errores (") and menu[6] == "Configuración", menu
    assert menu[7] == "Silenciar notificaciones", menu
    assert menu[-2:] == ["Acerca de", "Salir"], menu
    assert report["exit"] == 0


# -- Windows: the tray of the Windows shell (Wine's under build/windows/ci.sh) --------------
def _windows_tray_skip() -> str | None:
    if sys.platform != "win32":
        return "the Windows shell's tray (this platform's own tray test is above)"
    if under_wine() and not os.environ.get("DISPLAY"):
        return (
            "Wine with no X display has no desktop: build/windows/ci.sh runs this file "
            "again under xvfb-run"
        )
    return None


# The real app (its demo) in the Windows shell's tray, driven by real mouse input:
# argv = [data dir, screenshot]. The icon is found where Windows says it is
# (Shell_NotifyIconGetRect, through QSystemTrayIcon.geometry) or, under Wine, which
# implements no such call, in Wine's own tray window. A right click there must open the
# menu; a click on "Pausar" must pause the engine (the icon may still show the demo's error:
# it outranks "paused"); a click on "Salir" must end the app.
WIN_APP_CHILD = (
    r"""
import asyncio, ctypes, json, sys
from collections import Counter
from ctypes import wintypes
from pathlib import Path
import PySide6.QtWidgets  # before qasync
import qasync
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication
from bridge.config import Paths
from launcher.demo import start_demo_for_ui
from ui.app import BridgeApp
from ui.i18n import set_language

user32 = ctypes.WinDLL("user32")
user32.FindWindowW.restype = wintypes.HWND
user32.FindWindowW.argtypes = [wintypes.LPCWSTR, wintypes.LPCWSTR]
DOWN_UP = {"left": (0x0002, 0x0004), "right": (0x0008, 0x0010)}

def click(point, button):
    # Qt's coordinates are scaled by the display's scaling; the cursor's are pixels
    ratio = app.primaryScreen().devicePixelRatio()
    user32.SetCursorPos(round(point.x() * ratio), round(point.y() * ratio))
    down, up = DOWN_UP[button]
    user32.mouse_event(down, 0, 0, 0, 0)
    user32.mouse_event(up, 0, 0, 0, 0)

def icon_rect(app, tray):
    g = tray.geometry()
    if g.width() > 0 and g.height() > 0:
        return g, "shell"
    hwnd = user32.FindWindowW("__winex11_standalone_tray", None)
    if not hwnd:
        return None, "no tray window"
    r = wintypes.RECT()
    user32.GetClientRect(hwnd, ctypes.byref(r))
    origin = wintypes.POINT(0, 0)
    user32.ClientToScreen(hwnd, ctypes.byref(origin))
    # the icon: what differs from the window's background (its most common colour)
    shot = app.primaryScreen().grabWindow(0, origin.x, origin.y, r.right, r.bottom).toImage()
    pixels = {(i, j): shot.pixel(i, j) for i in range(shot.width())
              for j in range(shot.height())}
    background = Counter(pixels.values()).most_common(1)[0][0]
    icon = [p for p, rgb in pixels.items()
            if max(abs(((rgb >> s) & 255) - ((background >> s) & 255)) for s in (0, 8, 16)) > 40]
    if not icon:
        return None, "Wine's tray window shows no icon"
    xs, ys = [p[0] for p in icon], [p[1] for p in icon]
    return QRect(origin.x + min(xs), origin.y + min(ys), max(xs) - min(xs) + 1,
                 max(ys) - min(ys) + 1), "wine tray window"

async def until(predicate, seconds):
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()

app = QApplication([sys.argv[0]])
app.setQuitOnLastWindowClosed(False)
set_language("es_AR")
"""
    + DEMO_APP
    + r"""
async def main():
    bridge, task = await start_demo(Path(sys.argv[1]))
    tray = bridge.tray
    report = {"platform": app.platformName(), "use_tray": bridge.use_tray,
              "visible": tray.icon.isVisible()}
    rect = None
    for _ in range(100):
        rect, how = icon_rect(app, tray.icon)
        if rect is not None:
            break
        await asyncio.sleep(0.05)
    report["found"] = how
    if rect is None:
        bridge.quit()
        report["exit"] = await task
        print(json.dumps(report), flush=True)
        return
    report["icon"] = [rect.x(), rect.y(), rect.width(), rect.height()]
    app.primaryScreen().grabWindow(0).save(sys.argv[2])
    world = bridge.controller.demo
    report["orders_flowed"] = await until(lambda: len(world.erp.orders) >= 1, 30)
    menu = tray.menu
    click(rect.center(), "right")
    report["menu_opened"] = await until(menu.isVisible, 5)
    report["menu"] = [shown(a.text()) for a in menu.actions() if a.text()]
    if report["menu_opened"]:
        click(menu.mapToGlobal(menu.actionGeometry(tray.pause_action).center()), "left")
        report["paused"] = await until(lambda: bridge.controller.engine.paused, 10)
        report["menu_closed"] = not menu.isVisible()
        # the menu follows the engine at the next status refresh (a task): wait for it
        await until(lambda: shown(tray.pause_action.text()) == "Reanudar", 10)
        report["pause_text"] = shown(tray.pause_action.text())
        click(rect.center(), "right")
        if await until(menu.isVisible, 5):
            click(menu.mapToGlobal(menu.actionGeometry(tray.quit_action).center()), "left")
            # orders still on their way: Bridge asks first; "Salir igual", by a real click
            from PySide6.QtWidgets import QPushButton
            def quit_box():
                return next((w for w in app.topLevelWidgets()
                             if w.objectName() == "quitDialog" and w.isVisible()), None)
            await until(lambda: task.done() or quit_box() is not None, 5)
            box = quit_box()
            if box is not None:
                report["asked_to_quit"] = True
                button = box.findChild(QPushButton, "quitConfirm")
                click(button.mapToGlobal(button.rect().center()), "left")
    try:
        report["exit"] = await asyncio.wait_for(asyncio.shield(task), 30)
        report["quit_by_menu"] = True
    except asyncio.TimeoutError:
        report["quit_by_menu"] = False
        bridge.quit()
        report["exit"] = await task
    print(json.dumps(report), flush=True)

qasync.run(main())
"""
)


@pytest.mark.skipif(_windows_tray_skip() is not None, reason=str(_windows_tray_skip()))
def test_windows_tray_icon_and_its_menu_work_with_real_clicks(tmp_path: Path) -> None:
    shot = tmp_path / "windows-tray.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "windows"}
    proc = subprocess.run(
        [sys.executable, "-c", WIN_APP_CHILD, str(tmp_path / "data"), str(shot)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["platform"] == "windows" and report["use_tray"] is True, report
    assert report["visible"] is True
    assert "icon" in report, f"the icon is not on screen ({report['found']}): {report}"
    x, y, w, h = report["icon"]
    assert w >= 8 and h >= 8 and x >= 0 and y >= 0, report
    assert report["orders_flowed"], report
    assert report["menu_opened"], f"a right click on the icon opened no menu: {report}"
    assert report["menu"][1:5] == [
        "Sincronizar ahora",
        "Pausar",
        "Pausar por un tiempo…",
        "Ver registro",
    ], report
    assert report["paused"] and report["menu_closed"], report
    assert report["pause_text"] == "Reanudar", report
    assert report["quit_by_menu"] and report["exit"] == 0, report
