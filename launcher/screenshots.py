"""Render every screen to PNG, with the demo running, so the look can be reviewed:

QT_QPA_PLATFORM=offscreen .venv/bin/python -m launcher.screenshots docs/screenshots [--lang en]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6.QtWidgets  # noqa: F401  (before qasync, which uses the binding already imported)
import qasync
from PySide6.QtWidgets import QApplication, QWidget

from bridge.config import Paths
from ui.i18n import set_language

if TYPE_CHECKING:
    from ui.app import BridgeApp
    from ui.main_window import MainWindow


def save(widget: QWidget, path: Path) -> None:
    widget.grab().save(str(path))
    print(path)


async def render(out: Path) -> None:
    from launcher.demo import DemoWorld, start_demo_for_ui
    from ui.app import BridgeApp
    from ui.settings import SettingsDialog
    from ui.wizard import FirstRunDialog, PreviewDialog

    with tempfile.TemporaryDirectory() as tmp:
        paths = Paths(Path(tmp) / "config.toml", Path(tmp))
        app = BridgeApp(
            paths,
            demo=True,
            use_tray=False,
            mute_after_start_s=0,
            demo_variants=1500,
            demo_starter=start_demo_for_ui,
        )
        runner = asyncio.ensure_future(app.run())
        await asyncio.wait_for(app.ready.wait(), 60)
        assert app.controller is not None and app.window is not None
        world = app.controller.demo
        assert isinstance(world, DemoWorld)
        # a few orders, one with a wrong CUIT, so that every screen has something to show
        world.store.add_orders(4)
        bad = world.store.add_order()
        bad["buyer"]["tax_id"] = "30-71234567-2"
        bad["buyer"]["tax_condition"] = "responsable_inscripto"
        await app.controller.engine.sync_now("all")
        await app.controller.refresh()
        await app.refresh_history()
        await asyncio.sleep(0.5)
        w: MainWindow = app.window
        w.resize(1100, 700)
        for tab, name in (
            (w.TAB_OVERVIEW, "overview"),
            (w.TAB_LOG, "log"),
            (w.TAB_ERRORS, "errors"),
            (w.TAB_HISTORY, "history"),
        ):
            w.tabs.setCurrentIndex(tab)
            if tab == w.TAB_ERRORS and w.errors.errors:
                w.errors.select_row(0)
            await asyncio.sleep(0.2)
            save(w, out / f"main-{name}.png")
        await render_finding(app, w, bad, out)
        # the ERP's prices typed in cents: the guard holds the sync; "Push anyway…" asks
        skus = list(world.catalog.skus())
        for sku in skus[: len(skus) // 3]:
            if world.catalog.price(sku, "LISTA1") > 0:
                world.catalog.set_price(sku, "LISTA1", world.catalog.price(sku, "LISTA1") * 100)
        await app.controller.engine.sync_now("catalog")
        await app.controller.refresh()
        await asyncio.sleep(0.3)
        w.tabs.setCurrentIndex(w.TAB_ERRORS)
        held = [i for i, e in enumerate(w.errors.errors) if e.held]
        if held:
            w.errors.select_row(held[0])
            await asyncio.sleep(0.1)
            w.errors.approve_btn.click()
            await asyncio.sleep(0.3)
            box = w.errors._dialog
            if box is not None:
                save(box, out / "approve-held.png")
                box.reject()
        settings = SettingsDialog(
            app.controller.engine.paths,
            app.controller.engine.secrets,
            app.controller.engine.config,
            w,
        )
        settings.resize(680, 1100)
        settings.show()
        await settings.test_erp()
        await settings.test_store()
        save(settings, out / "settings.png")
        settings.close()
        first = FirstRunDialog()
        first.show()
        await asyncio.sleep(0.1)
        save(first, out / "first-run.png")
        first.close()
        world.catalog.mutate(0.05, seed=3)  # the ERP moved on since the last sync
        preview = PreviewDialog()
        preview.show()
        preview.show_preview(await app.controller.engine.preview_first_sync())
        await asyncio.sleep(0.1)
        save(preview, out / "first-run-preview.png")
        preview.close()
        from ui.tray import Tray

        tray = Tray()
        if app.controller.status is not None:
            tray.set_status(app.controller.status)
        tray.menu.adjustSize()
        save(tray.menu, out / "tray-menu.png")
        app.quit()
        await runner


async def render_finding(app: BridgeApp, w: MainWindow, order: dict, out: Path) -> None:
    """Finding things (issue #14, points 4 and 5), at 1366×768: the search of the whole
    history, an order's detail and the products view."""
    w.resize(1366, 768)
    w.tabs.setCurrentWidget(w.search)
    w.search.search_for(order["buyer"]["tax_id"].replace("-", ""))
    await asyncio.sleep(0.5)
    save(w, out / "main-search.png")
    assert app.finder is not None
    app.finder.open_order(order["id"])
    await asyncio.sleep(0.5)
    if app.finder.details:
        detail = app.finder.details[0]
        save(detail, out / "order-detail.png")
        detail.reject()
    w.tabs.setCurrentWidget(w.products)
    await asyncio.sleep(0.5)
    w.products.select_sku(w.products.model.products[3].sku if w.products.model.products else "")
    save(w, out / "main-products.png")
    w.resize(1100, 700)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="docs/screenshots")
    ap.add_argument("--lang", default="es_AR")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    set_language(args.lang)
    qasync.run(render(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
