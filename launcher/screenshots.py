"""Render every screen to PNG, with the demo running, so the look can be reviewed:

QT_QPA_PLATFORM=offscreen .venv/bin/python -m launcher.screenshots docs/screenshots [--lang en]

The screens are drawn on an offscreen screen of 1366×768 (the common laptop), each window at
the size the app gives it. A second run, in a subprocess with Qt's scale factor at 150 % (a
Windows laptop at 150 %: 911×512 logical pixels), draws that screen with the main window and
the Settings over it (`settings-150.png`). Each run checks that every window it shows fits
the screen above the taskbar, and fails (exit status 1) when one does not.

The data are real: the demo's simulators, the engine's syncs, faults injected into the ERP
simulator (a wrong CUIT, prices typed in cents, the token expired).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import PySide6.QtWidgets  # noqa: F401  (before qasync, which uses the binding already imported)
import qasync
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QInputDialog,
    QMenu,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from bridge.config import Paths
from ui.app import install_qt_translation
from ui.i18n import set_language

if TYPE_CHECKING:
    from launcher.demo import DemoWorld
    from ui.app import BridgeApp
    from ui.main_window import MainWindow

SCREEN = (1366, 768)  # the physical screen, in pixels
TASKBAR = 40  # Windows' taskbar, in logical pixels: the screen's free area is above it
TITLE_BAR = 31  # Windows' title bar, in logical pixels (the offscreen platform draws none)
DESKTOP = QColor("#2d4a6b")


class Shots:
    """Where the PNGs go, and what did not fit the screen."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.problems: list[str] = []

    def save(self, widget: QWidget, name: str) -> None:
        self.check_fits(widget, name)
        self.write(widget.grab(), name)

    def write(self, pixmap: QPixmap, name: str) -> None:
        path = self.out / name
        pixmap.save(str(path))
        print(path)

    def check_fits(self, widget: QWidget, name: str) -> None:
        """The window, with a title bar, within the screen's free area."""
        free = widget.screen().availableGeometry()
        size = widget.size()
        if size.width() > free.width() or size.height() + TITLE_BAR > free.height():
            self.problems.append(
                f"{name}: {widget.objectName() or type(widget).__name__} is "
                f"{size.width()}×{size.height()} (and its title bar), the screen has "
                f"{free.width()}×{free.height()} above the taskbar"
            )


def side_by_side(menu: QMenu, sub: QMenu, top: int) -> QPixmap:
    """A menu with one of its submenus open, at `top` (the item's height)."""
    a, b = menu.grab(), sub.grab()
    ratio = a.devicePixelRatio()
    width = menu.width() + sub.width()
    height = max(menu.height(), top + sub.height())
    canvas = QPixmap(int(width * ratio), int(height * ratio))
    canvas.setDevicePixelRatio(ratio)
    canvas.fill(QColor(0, 0, 0, 0))
    painter = QPainter(canvas)
    painter.drawPixmap(QPoint(0, 0), a)
    painter.drawPixmap(QPoint(menu.width() - 2, top), b)
    painter.end()
    return canvas


def desktop(windows: list[QWidget]) -> QPixmap:
    """The whole screen: the windows where they are, each under a title bar, and the
    taskbar's strip over them (what falls behind it is what the merchant cannot reach)."""
    screen = windows[0].screen()
    ratio = screen.devicePixelRatio()
    width, height = (round(n / ratio) for n in SCREEN)
    canvas = QPixmap(*SCREEN)
    canvas.setDevicePixelRatio(ratio)
    canvas.fill(DESKTOP)
    painter = QPainter(canvas)
    for w in windows:
        place = placed(w)
        title = QRect(place.x(), place.y() - TITLE_BAR, w.width(), TITLE_BAR)
        painter.fillRect(title, QColor("#f3f3f3"))
        painter.setPen(QColor("#202020"))
        painter.drawText(
            title.adjusted(10, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, w.windowTitle()
        )
        painter.drawPixmap(place, w.grab())
    painter.fillRect(QRect(0, height - TASKBAR, width, TASKBAR), QColor("#1f1f1f"))
    painter.end()
    return canvas


def placed(w: QWidget) -> QPoint:
    """Where a window's client area is on the screen, with a title bar above it (a window
    at the very top is moved down by the title bar's height)."""
    place = w.geometry().topLeft()
    place.setY(max(place.y(), TITLE_BAR))
    return place


def dialog_named(name: str) -> QWidget:
    [found] = [
        w for w in QApplication.topLevelWidgets() if w.objectName() == name and w.isVisible()
    ]
    return found


def scroll_to_top(w: QWidget) -> None:
    for area in w.findChildren(QScrollArea):
        area.verticalScrollBar().setValue(0)


async def start(tmp: str) -> tuple[BridgeApp, asyncio.Future[int], DemoWorld, dict]:
    """The app on the demo (its tray too, wired as on a desktop that has one), after a sync
    of a few orders, one of them with a wrong CUIT."""
    from launcher.demo import DemoWorld, start_demo_for_ui
    from ui.app import BridgeApp

    paths = Paths(Path(tmp) / "config.toml", Path(tmp))
    app = BridgeApp(
        paths,
        demo=True,
        use_tray=True,
        mute_after_start_s=0,
        demo_variants=1500,
        demo_starter=start_demo_for_ui,
    )
    runner = asyncio.ensure_future(app.run())
    await asyncio.wait_for(app.ready.wait(), 60)
    assert app.controller is not None and app.window is not None
    world = app.controller.demo
    assert isinstance(world, DemoWorld)
    world.store.add_orders(4)
    bad = world.store.add_order()
    bad["buyer"]["tax_id"] = "30-71234567-2"
    bad["buyer"]["tax_condition"] = "responsable_inscripto"
    await app.controller.engine.sync_now("all")
    await app.controller.refresh()
    await app.refresh_history()
    app.window.show()  # as when the merchant opens it from the tray
    await asyncio.sleep(0.5)
    return app, runner, world, bad


async def render(out: Path) -> list[str]:
    """Every screen at 1366×768; what did not fit."""
    from ui.wizard import FirstRunDialog, PreviewDialog

    shots = Shots(out)
    with tempfile.TemporaryDirectory() as tmp:
        app, runner, world, bad = await start(tmp)
        assert app.controller is not None and app.window is not None
        w = app.window
        await render_finding(app, w, bad, shots)
        w.show_tab(w.TAB_HISTORY)
        await asyncio.sleep(0.3)
        shots.save(w, "main-history.png")
        await render_settings(app, shots)
        first = FirstRunDialog()
        first.show()
        await asyncio.sleep(0.1)
        shots.save(first, "first-run.png")
        first.close()
        world.catalog.mutate(0.05, seed=3)  # the ERP moved on since the last sync
        world.store.add_orders(3)  # and orders came in: the preview lists them
        preview = PreviewDialog()
        preview.show()
        preview.show_preview(await app.controller.engine.preview_first_sync())
        await asyncio.sleep(0.1)
        shots.save(preview, "first-run-preview.png")
        preview.close()
        # the ERP's prices typed in cents: the guard holds the sync; "Push anyway…" asks
        catalog = world.catalog
        skus = list(catalog.skus())
        for sku in skus[: len(skus) // 3]:
            if catalog.price(sku, "LISTA1") > 0:
                catalog.set_price(sku, "LISTA1", catalog.price(sku, "LISTA1") * 100)
        await app.controller.engine.sync_now("catalog")
        await app.controller.refresh()
        await asyncio.sleep(0.3)
        w.show_tab(w.TAB_ERRORS)
        held = [r for r, [e, *_more] in enumerate(w.errors.rows) if e.held]
        if held:
            w.errors.select_row(held[0])
            await asyncio.sleep(0.1)
            w.errors.approve_btn.click()
            await asyncio.sleep(0.3)
            box = w.errors._dialog
            if box is not None:
                shots.save(box, "approve-held.png")
                box.reject()
        await render_token_expired(app, w, world, shots)
        app.quit()
        await runner
    return shots.problems


async def render_settings(app: BridgeApp, shots: Shots) -> None:
    """Settings as the merchant opens them (the size the app gives them, the top of the
    form), then after both connection tests, scrolled to the ERP's result."""
    assert app.controller is not None
    settings = app.open_settings(app.controller.engine.config)
    await asyncio.sleep(0.2)
    scroll_to_top(settings)
    shots.save(settings, "settings.png")
    await settings.test_erp()
    await settings.test_store()
    [area] = settings.findChildren(QScrollArea)
    area.ensureWidgetVisible(settings.erp_result, 0, 80)
    await asyncio.sleep(0.1)
    shots.save(settings, "settings-tested.png")
    settings.reject()


async def render_token_expired(
    app: BridgeApp, w: MainWindow, world: DemoWorld, shots: Shots
) -> None:
    """The ERP's token expired while orders come in: one state with its cause, one error
    row for all of them; a discard with its reason and the Undo; the tray; quitting."""
    assert app.controller is not None and app.tray is not None
    world.erp.expire_token()
    world.store.add_orders(5)
    await app.controller.engine.sync_now("orders")
    await app.controller.refresh()
    await asyncio.sleep(0.3)
    for tab, name in ((w.TAB_OVERVIEW, "overview"), (w.TAB_LOG, "log")):
        w.show_tab(tab)
        await asyncio.sleep(0.2)
        shots.save(w, f"main-{name}.png")
    w.show_tab(w.TAB_ERRORS)
    # the row of the orders that wait on the token (one row, however many orders)
    grouped = next((r for r, members in enumerate(w.errors.rows) if len(members) > 1), 0)
    w.errors.select_row(grouped)
    await asyncio.sleep(0.2)
    shots.save(w, "main-errors.png")
    # discard the order with the wrong CUIT: a reason is asked, then "Undo" is offered
    cuit = next(
        r
        for r, [e, *_more] in enumerate(w.errors.rows)
        if e.subject.order_id is not None and e.cause is None
    )
    w.errors.select_row(cuit)
    w.errors.discard_btn.click()
    await asyncio.sleep(0.2)
    dialog = dialog_named("discardDialog")
    assert isinstance(dialog, QInputDialog)
    dialog.setTextValue("El cliente lo canceló por teléfono")
    await asyncio.sleep(0.1)
    shots.save(dialog, "errors-discard-reason.png")
    dialog.accept()
    await app.controller.refresh()
    await asyncio.sleep(0.5)
    shots.save(w, "main-errors-undo.png")
    # the tray: its state line, the pause and mute choices; then paused and muted
    tray = app.tray
    tray.menu.adjustSize()
    shots.write(tray.menu.grab(), "tray-menu.png")
    for sub, action, name in (
        (tray.pause_menu, tray.pause_for_action, "tray-menu-pause.png"),
        (tray.mute_menu, tray.mute_action, "tray-menu-mute.png"),
    ):
        sub.rebuild()
        sub.adjustSize()
        shots.write(side_by_side(tray.menu, sub, tray.menu.actionGeometry(action).top()), name)
    app.controller.pause_until(time.time() + 3600)
    app.controller.mute_until(time.time() + 2 * 3600)
    await app.controller.refresh()
    await asyncio.sleep(0.2)
    tray.menu.adjustSize()
    shots.write(tray.menu.grab(), "tray-menu-paused.png")
    app.controller.engine.resume()
    app.controller.unmute()
    await app.controller.refresh()
    # quitting with orders still on their way asks first
    app.request_quit()
    await asyncio.sleep(0.2)
    box = dialog_named("quitDialog")
    assert isinstance(box, QMessageBox)
    shots.save(box, "quit-confirm.png")
    box.reject()


async def render_finding(app: BridgeApp, w: MainWindow, order: dict, shots: Shots) -> None:
    """Finding things (issue #14, points 4 and 5): the search of the whole history, an
    order's detail and the products view."""
    w.show_tab(w.tabs.indexOf(w.search))
    w.search.search_for(order["buyer"]["tax_id"].replace("-", ""))
    await asyncio.sleep(0.5)
    shots.save(w, "main-search.png")
    assert app.finder is not None
    app.finder.open_order(order["id"])
    await asyncio.sleep(0.5)
    if app.finder.details:
        detail = app.finder.details[0]
        shots.save(detail, "order-detail.png")
        detail.reject()
    w.show_tab(w.tabs.indexOf(w.products))
    await asyncio.sleep(0.5)
    w.products.select_sku(w.products.model.products[3].sku if w.products.model.products else "")
    shots.save(w, "main-products.png")


async def render_scaled(out: Path, name: str) -> list[str]:
    """The screen of a laptop at 150 %: the main window, and the Settings over it."""
    shots = Shots(out)
    with tempfile.TemporaryDirectory() as tmp:
        app, runner, _world, _order = await start(tmp)
        assert app.controller is not None and app.window is not None
        shots.check_fits(app.window, name)
        settings = app.open_settings(app.controller.engine.config)
        await asyncio.sleep(0.3)
        scroll_to_top(settings)
        shots.check_fits(settings, name)
        save = settings.buttons.button(QDialogButtonBox.StandardButton.Save)
        bottom = save.mapTo(settings, save.rect().bottomLeft()).y() + placed(settings).y()
        if bottom > settings.screen().availableGeometry().bottom():
            shots.problems.append(f"{name}: the Settings' Save button is behind the taskbar")
        shots.write(desktop([app.window, settings]), name)
        settings.reject()
        app.quit()
        await runner
    return shots.problems


def offscreen_screen(tmp: str, scale: float) -> None:
    """The offscreen platform with the laptop's screen (its default is 800×600), less the
    taskbar: what Windows gives the windows as the screen's free area."""
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") != "offscreen":
        return
    config = Path(tmp) / "screen.json"
    width, height = SCREEN
    screen = {"name": "laptop", "x": 0, "y": 0, "width": width}
    screen["height"] = height - round(TASKBAR * scale)
    config.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "dpr": 1}]}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="docs/screenshots")
    ap.add_argument("--lang", default="es_AR")
    ap.add_argument(
        "--scaled",
        metavar="FACTOR",
        help="only the screen at this scale (1.5: a Windows laptop at 150 %%)",
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.scaled:
        os.environ["QT_SCALE_FACTOR"] = args.scaled
    with tempfile.TemporaryDirectory() as tmp:
        offscreen_screen(tmp, float(args.scaled or 1))
        app = QApplication.instance() or QApplication(sys.argv)
        assert isinstance(app, QApplication)
        app.setQuitOnLastWindowClosed(False)
        set_language(args.lang)
        install_qt_translation(app, args.lang)  # Qt's own buttons, as the app does
        if args.scaled:
            percent = round(float(args.scaled) * 100)
            problems = qasync.run(render_scaled(out, f"settings-{percent}.png"))
        else:
            problems = qasync.run(render(out))
    if not args.scaled:
        # Qt reads the scale factor once, at start: the 150 % screen is another process
        scaled = [sys.executable, "-m", "launcher.screenshots", str(out), "--lang", args.lang]
        env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
        done = subprocess.run([*scaled, "--scaled", "1.5"], env=env, check=False)
        if done.returncode:
            problems.append("the screen at 150 % (see above)")
    for problem in problems:
        print("does not fit:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
