"""Diagnostics: the zip has what support needs and no secret in any member, even a secret
that somehow reached an event, an error or a log line; `bridge diagnostics`; the UI's
export action and the crash dialog; `bridge --selftest` from source."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from bridge import __version__, redact
from bridge.config import Paths, load_config
from bridge.diagnostics import write_zip
from bridge.secrets import SecretStore
from bridge.state import State
from tests.conftest import write_profile

BRIDGE = [sys.executable, "-m", "launcher"]


def unique(tag: str) -> str:
    """A secret value nobody registered with the redactor yet (it is process-wide)."""
    value = f"{tag}-{os.getpid()}-{time.monotonic_ns()}"
    assert redact.redact(value) == value
    return value


def add_event(paths: Paths, message: str, data: dict | None = None, n: int = 1) -> None:
    """Straight into the state file, past the event bus's redaction."""
    db = sqlite3.connect(paths.db_file)
    with db:
        db.executemany(
            "INSERT INTO events (ts, level, pipeline, code, message, data) VALUES (?,?,?,?,?,?)",
            [(time.time(), "error", "orders", "test", message, json.dumps(data) if data else None)]
            * n,
        )
    db.close()


def members(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture
def profile(tmp_path: Path) -> Paths:
    paths = write_profile(tmp_path, "http://127.0.0.1:9/", "http://127.0.0.1:9/api/", "CLI")
    State(paths.db_file).close()
    return paths


def test_zip_has_versions_config_keyring_status_events_and_logs(
    profile: Paths, tmp_path: Path
) -> None:
    add_event(profile, "order 1001 failed: the ERP said no", {"order": "1001"}, n=2100)
    state = State(profile.db_file)
    state.errors.open("orders", "1001", kind="data", code="bad_cuit", message="CUIT inválido")
    state.close()
    profile.log_dir.mkdir(parents=True)
    (profile.log_dir / "bridge.log").write_text("2026 INFO bridge started\n", encoding="utf-8")
    (profile.log_dir / "bridge.log.1").write_text("2026 INFO older\n", encoding="utf-8")
    config = load_config(profile.config_file)
    (tmp_path / "out").mkdir()
    out = write_zip(profile, tmp_path / "out", config, secrets=SecretStore(use_keyring=False))
    assert out.parent == tmp_path / "out" and out.name.startswith("bridge-diagnostics-")
    m = members(out)
    assert set(m) >= {
        "README.txt",
        "versions.json",
        "config.toml",
        "keyring.json",
        "status.json",
        "errors.json",
        "events.jsonl",
        "logs/bridge.log",
        "logs/bridge.log.1",
    }
    versions = json.loads(m["versions.json"])
    assert versions["bridge"] == __version__
    assert versions["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert versions["libraries"]["keyring"] and versions["libraries"]["httpx"]
    assert versions["libraries"]["PySide6-Essentials"] not in ("", "not installed")
    cfg = tomllib.loads(m["config.toml"].decode())
    assert cfg["store"]["url"] == "http://127.0.0.1:9/" and cfg["erp"]["kind"] == "dragonfish"
    keyring = json.loads(m["keyring.json"])
    assert keyring["secrets"]["store.token"] == "not set"
    events = m["events.jsonl"].decode().splitlines()
    assert len(events) == 2000  # the last 2000 of 2100
    assert json.loads(events[-1])["data"] == {"order": "1001"}
    status = json.loads(m["status.json"])
    assert status["errors"]["open"] == 1 and "recent_runs" in status
    assert json.loads(m["errors.json"])[0]["code"] == "bad_cuit"
    assert m["logs/bridge.log"] == b"2026 INFO bridge started\n"


def test_no_secret_value_anywhere_in_the_zip(
    profile: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_token = unique("store-tok")
    erp_token = unique("erp-tok")
    smtp = unique('pa"ss\\word')  # JSON escapes it: a naive redaction of dumped text misses it
    monkeypatch.setenv("BRIDGE_SECRET_STORE_TOKEN", store_token)
    monkeypatch.setenv("BRIDGE_SECRET_ERP_TOKEN", erp_token)
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("alerts.password", smtp)
    # the secrets written where they should never be
    add_event(
        profile,
        f"request failed with token {store_token} and {erp_token}",
        {"auth": erp_token, "nested": {"pw": smtp}, "list": [store_token]},
    )
    state = State(profile.db_file)
    state.errors.open(
        "orders",
        "1002",
        kind="auth",
        code="token",
        message=f"bad {erp_token}",
        server_message=f"echo {smtp}",
    )
    state.close()
    profile.log_dir.mkdir(parents=True)
    (profile.log_dir / "bridge.log").write_text(
        f"INFO Authorization: {store_token}\nINFO pw={smtp}\n", encoding="utf-8"
    )
    out = write_zip(
        profile,
        tmp_path / "d.zip",
        None,
        secrets=secrets,
        status={"note": f"status with {erp_token}"},
    )
    m = members(out)
    leaks = []
    for value in (store_token, erp_token, smtp):
        forms = {value, json.dumps(value)[1:-1], value.replace("\\", "\\\\")}
        for name, data in m.items():
            text = data.decode("utf-8")
            leaks += [(name, f) for f in forms if f in text]
    assert leaks == []
    assert "***" in m["events.jsonl"].decode() and "***" in m["logs/bridge.log"].decode()
    keyring = json.loads(m["keyring.json"])
    assert keyring["secrets"]["store.token"] == "environment"
    assert keyring["secrets"]["alerts.password"] == "session"
    assert keyring["secrets"]["erp.password"] == "not set"


def test_a_config_that_does_not_load_is_included_masked(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "config.toml", tmp_path / "data")
    secret = unique("in-the-file")
    paths.config_file.write_text(
        f'[store]\nurl = "http://x/"\ntoken = "{secret}"\n[erp]\nkind = "dragonfish"\n',
        encoding="utf-8",
    )
    m = members(write_zip(paths, tmp_path / "d.zip", None, secrets=SecretStore(use_keyring=False)))
    assert secret.encode() not in m["config.toml"]
    assert b'token = "***"' in m["config.toml"]
    assert b"secrets do not go in the config file" in m["config-problem.txt"]
    assert b"no state file yet" in m["status.json"]


def test_cli_diagnostics(profile: Paths, tmp_path: Path) -> None:
    add_event(profile, "something happened")
    env = dict(
        os.environ,
        BRIDGE_DATA_DIR=str(profile.data_dir),
        BRIDGE_CONFIG=str(profile.config_file),
        BRIDGE_SECRET_ERP_TOKEN=unique("cli"),
    )
    out = tmp_path / "support.zip"
    r = subprocess.run(
        [*BRIDGE, "diagnostics", "--out", str(out)],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == str(out) and out.is_file()
    m = members(out)
    assert b"something happened" in m["events.jsonl"]
    assert env["BRIDGE_SECRET_ERP_TOKEN"].encode() not in b"".join(m.values())
    assert json.loads(m["keyring.json"])["secrets"]["erp.token"] == "environment"
    # with nothing at all (a fresh PC): still a zip, into the current folder
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    env = dict(
        os.environ, BRIDGE_DATA_DIR=str(fresh / "data"), BRIDGE_CONFIG=str(fresh / "none.toml")
    )
    r = subprocess.run(
        [*BRIDGE, "diagnostics"], env=env, text=True, capture_output=True, timeout=60, cwd=fresh
    )
    assert r.returncode == 0, r.stdout + r.stderr
    made = Path(r.stdout.strip())
    assert made.parent == fresh and made.name.endswith(".zip")
    assert b"no config file" in members(made)["config.toml"]


def test_selftest_from_source() -> None:
    r = subprocess.run(
        [*BRIDGE, "--selftest"],
        text=True,
        capture_output=True,
        timeout=120,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith("selftest OK"), line
    assert "orders in the ERP" in line and "stock/price updates in the store" in line


# -- the UI ------------------------------------------------------------------------------------

pytest.importorskip("PySide6")

from tests.test_ui import (  # noqa: E402  (fixtures, and helpers for qasync test bodies)
    qloop,
    run,
    start_app,
    stop_app,
    toolbar_button,
    ui_profile,
    until,
)

__all__ = ["qloop", "ui_profile"]  # fixtures used by name (`sims` comes from conftest)


def save_as(dialog, target: Path) -> None:
    """Type the zip's full path in the save dialog's name field and press Save, as the
    merchant does. (Not `selectFile()`: once the dialog is shown and its name field has
    the focus - which comes a moment later, sooner under load - `selectFile()` changes only
    the folder and keeps the proposed name, so the zip went to `<folder>/<default name>`.)"""
    from PySide6.QtWidgets import QLineEdit

    name = dialog.findChild(QLineEdit, "fileNameEdit")
    assert name is not None, "the save dialog has no name field"
    name.setText(str(target))
    assert dialog.selectedFiles() == [str(target).replace(os.sep, "/")], dialog.selectedFiles()
    dialog.accept()


def test_export_diagnostics_from_the_toolbar(qtbot, qloop, ui_profile, tmp_path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets)
        try:
            w = app.window
            assert w.diagnostics_action.text().replace("&", "") == "Export diagnostics…"
            qtbot.mouseClick(toolbar_button(w, w.diagnostics_action), Qt.MouseButton.LeftButton)
            dialog = w.findChild(QFileDialog, "diagnosticsDialog")
            await until(lambda: dialog is not None and dialog.isVisible(), what="save dialog")
            target = tmp_path / "export" / "diag.zip"
            target.parent.mkdir()
            save_as(dialog, target)
            await until(target.exists, what="zip written")
            await until(
                lambda: (
                    w.findChild(QMessageBox, "diagnosticsResult") is not None
                    and w.findChild(QMessageBox, "diagnosticsResult").isVisible()
                ),
                what="result message",
            )
            assert str(target) in w.findChild(QMessageBox, "diagnosticsResult").text()
            m = members(target)
            assert b"engine_started" in m["events.jsonl"]
            assert json.loads(m["keyring.json"])["secrets"]["store.token"] == "session"
            status = json.loads(m["status.json"])
            assert "state" in status  # the live status of the running app
            for value in (secrets.get("store.token"), secrets.get("erp.token")):
                assert value and value.encode() not in b"".join(m.values())
        finally:
            await stop_app(app, task)

    run(qloop, body())


def fake_exc_info():
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError:
        return sys.exc_info()


def test_crash_hook_logs_the_traceback_and_opens_the_dialog(
    qtbot, qloop, ui_profile, tmp_path
) -> None:
    from PySide6.QtWidgets import QFileDialog

    from ui.diagnostics import CrashReporter

    paths, secrets = ui_profile

    async def body():
        app, task = await start_app(paths, secrets)
        reporter = CrashReporter(app.diagnostics_source, lambda: app.window)
        try:
            reporter.hook(*fake_exc_info())
            box = reporter.box
            assert box is not None and box.isVisible() and box.objectName() == "crashDialog"
            assert "unexpected error" in box.text()
            assert "RuntimeError: boom in a slot" in box.informativeText()
            assert "Traceback" in box.detailedText()
            log_text = (paths.log_dir / "bridge.log").read_text(encoding="utf-8")
            assert "Unexpected error" in log_text and "Traceback" in log_text
            assert "RuntimeError: boom in a slot" in log_text
            # a second error while the dialog is open: logged, no second dialog
            reporter.hook(*fake_exc_info())
            assert reporter.box is box and reporter.crashes == 2
            # the dialog failing itself: logged, nothing raised, no recursion
            original = reporter.show
            reporter.box.close()

            def broken(exc_info):
                raise ValueError("the dialog broke")

            reporter.show = broken
            reporter.hook(*fake_exc_info())
            assert "the crash dialog failed" in (paths.log_dir / "bridge.log").read_text(
                encoding="utf-8"
            )
            reporter.show = original
            # "Export diagnostics…" from the dialog
            reporter.hook(*fake_exc_info())
            export = next(b for b in reporter.box.buttons() if b.objectName() == "crashExport")
            export.click()
            dialog = app.window.findChild(QFileDialog, "diagnosticsDialog")
            await until(lambda: dialog is not None and dialog.isVisible(), what="save dialog")
            target = tmp_path / "crash.zip"
            outcome: list[str] = []
            reporter.exporter.written.connect(lambda p: outcome.append(f"written {p}"))
            reporter.exporter.failed.connect(lambda p: outcome.append(f"failed: {p}"))
            save_as(dialog, target)
            await until(
                lambda: bool(outcome),
                what=lambda: (
                    f"the export: dialog result {dialog.result()}, visible "
                    f"{dialog.isVisible()}, selected {dialog.selectedFiles()}"
                ),
            )
            assert outcome == [f"written {target}"], outcome
            assert target.exists()
            assert b"boom in a slot" in members(target)["logs/bridge.log"]
        finally:
            await stop_app(app, task)

    run(qloop, body())


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_qt_slot_reaches_the_crash_dialog(qtbot, qloop, tmp_path) -> None:
    import asyncio

    from PySide6.QtCore import QTimer

    from ui.diagnostics import CrashReporter, DiagnosticsSource

    paths = Paths(tmp_path / "config.toml", tmp_path)
    reporter = CrashReporter(lambda: DiagnosticsSource(paths))
    reporter.install()
    try:
        assert sys.excepthook == reporter.hook

        def slot():
            raise KeyError("from a slot")

        async def body():
            QTimer.singleShot(0, slot)
            await until(
                lambda: reporter.box is not None and reporter.box.isVisible(),
                within=10,
                what="crash dialog",
            )
            await asyncio.sleep(0)

        run(qloop, body())
        assert "KeyError" in reporter.box.informativeText()
        reporter.box.close()
    finally:
        reporter.uninstall()
    assert sys.excepthook != reporter.hook


FATAL = r"""
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from bridge.config import Paths
import ui.app

async def broken_run(self):
    raise RuntimeError("the app broke at start")

ui.app.BridgeApp.run = broken_run
seen = []

def close_crash_dialog():
    box = next((w for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox) and w.objectName() == "crashDialog"
                and w.isVisible()), None)
    if box is None:
        QTimer.singleShot(50, close_crash_dialog)
        return
    seen.append(box.informativeText())
    next(b for b in box.buttons() if b.objectName() == "crashClose").click()

QTimer.singleShot(0, close_crash_dialog)
data = Path(sys.argv[1])
code = ui.app.main(Paths(data / "config.toml", data))
print("exit", code, "dialog", bool(seen) and "the app broke at start" in seen[0])
"""


def test_a_fatal_error_shows_the_crash_dialog_and_exits_1(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", FATAL, str(tmp_path)],
        text=True,
        capture_output=True,
        timeout=60,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert r.stdout.strip().endswith("exit 1 dialog True"), r.stdout + r.stderr
    log_text = (tmp_path / "logs" / "bridge.log").read_text(encoding="utf-8")
    assert "Traceback" in log_text and "RuntimeError: the app broke at start" in log_text
