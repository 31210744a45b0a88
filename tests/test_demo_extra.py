"""The demo is an extra (`bridge[demo]`: the simulators run on aiohttp). An install without
it says so, with the command that installs it, where the demo is asked for: `bridge demo`
in a terminal, and the first-run dialog's "Try it with sample data"."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from bridge.config import Paths
from bridge.secrets import SecretStore
from tests import test_ui
from tests.test_ui import run, until
from ui.i18n import set_language

ROOT = Path(__file__).resolve().parent.parent
qloop = test_ui.qloop  # the Qt event loop fixture of the UI tests

# `bridge` in an interpreter where aiohttp cannot be imported, as in an install without the
# demo extra (a None in sys.modules stops the import and hides the module from find_spec)
WITHOUT_AIOHTTP = """
import sys
sys.modules["aiohttp"] = None
from launcher import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_product_imports_without_the_extra() -> None:
    """Every module of the engine, the connectors and the UI loads without aiohttp."""
    probe = """
import importlib, pkgutil, sys
sys.modules["aiohttp"] = None
import bridge, connectors, ui
names = [m.name for p in (bridge, connectors, ui)
         for m in pkgutil.walk_packages(p.__path__, p.__name__ + ".")
         if not m.name.endswith(".__main__")]  # that one runs the program
for name in names:
    importlib.import_module(name)
print(len(names))
"""
    r = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[-1]) > 40


def test_bridge_demo_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", WITHOUT_AIOHTTP, "--data-dir", str(tmp_path), "demo", "--headless"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(r.stdout, r.stderr)
    assert r.returncode == 1
    assert "The demo is not installed" in r.stderr
    assert 'pip install "bridge[demo]"' in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "demo").exists()  # nothing started


def test_first_run_demo_without_the_extra_says_so_and_offers_the_choices_again(
    qtbot, qloop, tmp_path, monkeypatch
):
    from ui.app import BridgeApp
    from ui.wizard import FirstRunDialog

    set_language("en")
    paths = Paths(tmp_path / "none" / "config.toml", tmp_path / "data")
    monkeypatch.setitem(sys.modules, "aiohttp", None)

    def first_runs() -> list[FirstRunDialog]:
        return [d for d in app.dialogs if isinstance(d, FirstRunDialog) and d.isVisible()]

    async def body() -> None:
        task = asyncio.ensure_future(app.run())
        await until(lambda: len(first_runs()) == 1, what="first-run dialog")
        qtbot.mouseClick(first_runs()[0].demo_btn, Qt.MouseButton.LeftButton)
        await until(
            lambda: any(
                isinstance(d, QMessageBox) and d.objectName() == "demoNotInstalledBox"
                for d in app.dialogs
            ),
            what="the demo-not-installed message",
        )
        box = next(d for d in app.dialogs if d.objectName() == "demoNotInstalledBox")
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert 'pip install "bridge[demo]"' in box.text()
        assert app.controller is None and not first_runs()
        box.accept()
        await until(lambda: len(first_runs()) == 1, what="the first-run dialog again")
        app.quit()
        assert await asyncio.wait_for(task, 30) == 0

    from launcher.demo import demo_starter

    starter = demo_starter()  # what the launcher gives the tray app, without aiohttp
    assert starter is None
    app = BridgeApp(
        paths, secrets=SecretStore(use_keyring=False), use_tray=False, demo_starter=starter
    )
    run(qloop, body())
