"""`bridge --selftest` (the built bundle) and `bridge selftest` (launcher.Launcher): prove that this build of
Bridge works end to end, offscreen, without touching the merchant's profile.

It loads the icons and the Spanish catalog, asks keyring for its backend (and imports this
OS's own backend class, which a frozen build loses when it is not bundled explicitly),
starts Qt offscreen and the tray app in demo mode — both simulators on 127.0.0.1 and the
real engine between them, state in a temporary folder — and waits until an order reached
the simulated ERP and a stock/price update reached the simulated store. Then it writes a
diagnostics zip of that profile. One line of result; exit 0 when all of it worked, else 1.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

OS_KEYRING = {"win32": "keyring.backends.Windows", "darwin": "keyring.backends.macOS"}


class SelftestFailed(Exception):
    pass


def check_resources() -> list[str]:
    from resources.icons import STATES, VARIANTS, app_icon_paths, tray_icon_paths
    from ui.i18n import CATALOG_DIR, load_catalog

    icons = list(app_icon_paths())
    for state in STATES:
        for variant in VARIANTS:
            icons.extend(tray_icon_paths(state, variant))
    catalog = load_catalog("es_AR")
    if len(catalog) < 50:
        raise SelftestFailed(f"the Spanish catalog in {CATALOG_DIR} has {len(catalog)} strings")
    return [f"{len(icons)} icons", f"es_AR {len(catalog)} strings"]


def check_keyring() -> str:
    import keyring

    from bridge.secrets import backend_info

    module = OS_KEYRING.get(sys.platform, "keyring.backends.SecretService")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise SelftestFailed(f"keyring backend {module} is not in this build: {exc}") from exc
    keyring.get_keyring()
    info = backend_info()  # the backend, or the backends a chainer holds
    return f"keyring {info.name} " + (
        "(secure)" if info.secure else f"(not usable here: {info.detail})"
    )


async def _until(predicate: Any, deadline: float, what: str) -> None:
    while not predicate():
        if time.monotonic() > deadline:
            raise SelftestFailed(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _run_demo(data_dir: Path, timeout_s: float, variants: int) -> list[str]:
    from bridge.config import Paths
    from bridge.diagnostics import write_zip
    from bridge.secrets import SecretStore
    from launcher.demo import DemoWorld, start_demo_for_ui
    from ui.app import BridgeApp

    deadline = time.monotonic() + timeout_s
    paths = Paths(data_dir / "config.toml", data_dir)
    app = BridgeApp(
        paths,
        demo=True,
        secrets=SecretStore(use_keyring=False),
        use_tray=False,
        mute_after_start_s=3600,
        demo_variants=variants,
        demo_starter=start_demo_for_ui,
    )
    task = asyncio.ensure_future(app.run())
    try:
        await _until(lambda: app.ready.is_set() or task.done(), deadline, "the app to start")
        if task.done():
            raise SelftestFailed(f"the app stopped at start: {task.exception()!r}")
        assert app.controller is not None and app.window is not None
        world = app.controller.demo
        assert isinstance(world, DemoWorld)
        await _until(lambda: len(world.erp.orders) >= 1, deadline, "an order in the simulated ERP")
        await _until(
            lambda: any(world.store.patches), deadline, "a stock update in the simulated store"
        )
        if not app.window.isVisible():
            raise SelftestFailed("the main window is not shown")
        orders = len(world.erp.orders)
        updates = sum(len(p) for p in world.store.patches)
        engine = app.controller.engine
        # let the runs in flight finish: quitting mid-request is fine, but noisy
        await _until(lambda: not any(engine.running.values()), deadline, "the runs to end")
        src = app.diagnostics_source()
        if src.flush is not None:
            await src.flush()
        zip_path = await asyncio.to_thread(
            write_zip,
            src.paths,
            data_dir / "diag.zip",
            src.config,
            secrets=src.secrets,
            status=src.status,
        )
        with zipfile.ZipFile(zip_path) as zf:
            names = zf.namelist()
            events = zf.read("events.jsonl") if "events.jsonl" in names else b""
        if b"order_done" not in events or "versions.json" not in names:
            raise SelftestFailed(
                f"diagnostics zip incomplete: {names}, {events.count(b'{')} events"
            )
    finally:
        app.quit()
        await asyncio.wait_for(task, 30)
    return [
        f"{orders} orders in the ERP",
        f"{updates} stock/price updates in the store",
        f"diagnostics {len(names)} files",
    ]


def run_selftest(timeout_s: float = 60.0, variants: int = 200) -> int:
    started = time.monotonic()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        parts = check_resources()
        if getattr(sys, "frozen", False) and not sys.flags.utf8_mode:
            raise SelftestFailed("Python's UTF-8 mode is off in this build (bridge.spec)")
        parts.append(f"console {sys.stdout.encoding if sys.stdout else 'none'}")
        parts.append(check_keyring())
        import PySide6.QtWidgets  # noqa: F401  (before qasync)
        import qasync
        from PySide6.QtCore import qVersion
        from PySide6.QtGui import QPixmap
        from PySide6.QtWidgets import QApplication

        from bridge.events import setup_logging
        from resources.icons import app_icon_paths
        from ui.i18n import _, set_language

        app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "bridge"])
        assert isinstance(app, QApplication)
        app.setQuitOnLastWindowClosed(False)
        if QPixmap(str(app_icon_paths()[-1])).isNull():
            raise SelftestFailed("Qt cannot read the bundled icons")
        set_language("es_AR")
        if _("Sync now") == "Sync now":
            raise SelftestFailed("the Spanish catalog did not apply")
        from ui.app import install_qt_translation

        if install_qt_translation(app, "es_AR") is None:
            raise SelftestFailed("Qt's Spanish translation (qtbase_es) is not in this build")
        parts.insert(0, f"Qt {qVersion()} {app.platformName()}")
        with tempfile.TemporaryDirectory(
            prefix="bridge-selftest-", ignore_cleanup_errors=True
        ) as tmp:
            try:
                parts += qasync.run(_run_demo(Path(tmp), timeout_s, variants))
            finally:
                setup_logging(None)  # close the log file before the folder goes
    except Exception as exc:
        reason = str(exc) if isinstance(exc, SelftestFailed) else f"{type(exc).__name__}: {exc}"
        print(f"selftest FAILED after {time.monotonic() - started:.1f} s: {reason}", flush=True)
        return 1
    print(f"selftest OK in {time.monotonic() - started:.1f} s: " + "; ".join(parts), flush=True)
    return 0
