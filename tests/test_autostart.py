"""Autostart on login: the XDG .desktop file for real (written, validated, its Exec line run,
removed), the Windows Run value against a fake winreg, the macOS LaunchAgent by its plist,
the `bridge autostart` command and the settings checkbox."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge import __version__, autostart
from bridge.autostart import (
    RUN_KEY,
    RUN_VALUE,
    MacAutostart,
    WindowsAutostart,
    XdgAutostart,
    desktop_exec,
    launch_command,
    parse_desktop_exec,
    read_desktop_entry,
)

ODD_COMMAND = [
    "/opt/My Apps/bridge",
    "--data-dir",
    "/home/ana/100% datos/$HOME",
    'say "hi"',
    "back\\slash",
    "plain",
]


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "autostart" / "bridge.desktop"


# -- Linux, for real ---------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG desktops")
def test_linux_enable_writes_a_valid_desktop_entry_that_starts_bridge(xdg: Path) -> None:
    assert not autostart.enabled()
    autostart.enable()  # the default command: this interpreter, -m launcher
    assert xdg.is_file() and autostart.enabled()
    entry = read_desktop_entry(xdg)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Bridge"
    assert entry["X-GNOME-Autostart-enabled"] == "true"
    assert entry["Hidden"] == "false"
    assert Path(entry["Icon"]).is_file()
    argv = parse_desktop_exec(entry["Exec"])
    assert argv == [sys.executable, "-m", "launcher"]
    # what a session manager would run (plus --version, so that it exits at once)
    r = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60, cwd="/")
    assert r.returncode == 0 and r.stdout.strip() == f"bridge {__version__}", r.stderr
    if shutil.which("desktop-file-validate"):
        v = subprocess.run(["desktop-file-validate", str(xdg)], capture_output=True, text=True)
        assert v.returncode == 0 and "error" not in v.stdout.lower(), v.stdout + v.stderr
    autostart.disable()
    assert not xdg.exists() and not autostart.enabled()
    autostart.disable()  # already off: nothing to do, no error


def test_desktop_exec_quoting_round_trips(tmp_path: Path) -> None:
    backend = XdgAutostart(tmp_path)
    backend.enable(ODD_COMMAND)
    text = backend.path.read_text(encoding="utf-8")
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    # field codes escaped, quotes and $ escaped inside double quotes, the file's own \\
    assert "%%" in exec_line and '\\\\"hi\\\\"' in exec_line and "\\\\$HOME" in exec_line
    assert parse_desktop_exec(read_desktop_entry(backend.path)["Exec"]) == ODD_COMMAND
    assert desktop_exec(["a"]) == "a"
    if shutil.which("desktop-file-validate"):
        v = subprocess.run(
            ["desktop-file-validate", str(backend.path)], capture_output=True, text=True
        )
        assert v.returncode == 0 and "error" not in v.stdout.lower(), v.stdout + v.stderr


def test_desktop_entry_turned_off_by_the_desktop_counts_as_off(tmp_path: Path) -> None:
    backend = XdgAutostart(tmp_path)
    backend.enable(["bridge"])
    for line in ("Hidden=true", "X-GNOME-Autostart-enabled=false"):
        text = backend.path.read_text(encoding="utf-8")
        key = line.split("=")[0]
        lines = [x for x in text.splitlines() if not x.startswith(key + "=")] + [line]
        backend.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert not backend.enabled(), line
        backend.enable(["bridge"])
        assert backend.enabled()
    backend.path.write_text("not a desktop file", encoding="utf-8")
    assert not backend.enabled()


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG desktops")
def test_xdg_config_home_default_and_relative(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert XdgAutostart().path == tmp_path / ".config" / "autostart" / "bridge.desktop"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # invalid per the spec: ignored
    assert XdgAutostart().path == tmp_path / ".config" / "autostart" / "bridge.desktop"


def test_launch_command_frozen_uses_the_gui_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert launch_command() == [sys.executable, "-m", "launcher"] or sys.platform == "win32"
    suffix = ".exe" if sys.platform == "win32" else ""
    gui, cli = tmp_path / f"bridge{suffix}", tmp_path / f"bridge-cli{suffix}"
    gui.touch()
    cli.touch()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(cli))
    assert launch_command() == [str(gui)]
    assert launch_command(["--data-dir", "x"]) == [str(gui), "--data-dir", "x"]
    gui.unlink()
    assert launch_command() == [str(cli)]


# -- Windows, by its registry value ------------------------------------------------------------


class FakeWinreg:
    """The part of winreg that autostart uses, over a dict: {(hive, key): {name: value}}."""

    HKEY_CURRENT_USER = "HKCU"
    KEY_READ, KEY_SET_VALUE, REG_SZ = 1, 2, 1

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], dict[str, tuple[Any, int]]] = {}

    class _Key:
        def __init__(self, store: dict[str, tuple[Any, int]]) -> None:
            self.store = store

        def __enter__(self) -> FakeWinreg._Key:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    def OpenKey(self, hive: str, sub: str, reserved: int = 0, access: int = 1) -> _Key:
        if (hive, sub) not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return self._Key(self.keys[(hive, sub)])

    def CreateKeyEx(self, hive: str, sub: str, reserved: int = 0, access: int = 2) -> _Key:
        return self._Key(self.keys.setdefault((hive, sub), {}))

    def QueryValueEx(self, key: _Key, name: str) -> tuple[Any, int]:
        if name not in key.store:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return key.store[name]

    def SetValueEx(self, key: _Key, name: str, reserved: int, kind: int, value: Any) -> None:
        key.store[name] = (value, kind)

    def DeleteValue(self, key: _Key, name: str) -> None:
        if name not in key.store:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        del key.store[name]


def test_windows_run_value() -> None:
    reg = FakeWinreg()
    win = WindowsAutostart(reg)
    assert not win.enabled()
    win.disable()  # no Run key at all: fine
    command = [
        r"C:\Users\Ana López\AppData\Local\Programs\Bridge\bridge.exe",
        "--data-dir",
        r"D:\datos bridge",
    ]
    win.enable(command)
    value, kind = reg.keys[("HKCU", RUN_KEY)][RUN_VALUE]
    assert kind == reg.REG_SZ
    assert value == (
        r'"C:\Users\Ana López\AppData\Local\Programs\Bridge\bridge.exe" '
        r'--data-dir "D:\datos bridge"'
    )
    assert win.enabled()
    assert RUN_KEY == r"Software\Microsoft\Windows\CurrentVersion\Run"
    win.disable()
    assert not win.enabled() and RUN_VALUE not in reg.keys[("HKCU", RUN_KEY)]
    win.disable()


def test_windows_installer_agrees_with_the_app() -> None:
    """The installer's autostart task and the settings checkbox must write the same value,
    or the checkbox would not show what the installer did (and the uninstaller would leave
    it); its uninstaller must know where the app keeps the merchant's data. (The installer
    itself is built, installed and uninstalled under Wine by build/windows/ci.sh.)"""
    from bridge.config import APP_AUTHOR, APP_NAME

    nsi = (Path(__file__).resolve().parent.parent / "build" / "windows" / "bridge.nsi").read_text(
        encoding="utf-8"
    )
    assert f'!define RUN_KEY "{RUN_KEY}"' in nsi
    assert f'!define RUN_VALUE "{RUN_VALUE}"' in nsi
    assert 'WriteRegStr HKCU "${RUN_KEY}" "${RUN_VALUE}" \'"$INSTDIR\\${EXE}"\'' in nsi
    assert 'DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"' in nsi
    assert "RequestExecutionLevel user" in nsi
    assert 'InstallDir "$LOCALAPPDATA\\Programs\\Bridge"' in nsi
    # platformdirs.user_data_dir(APP_NAME, APP_AUTHOR) on Windows
    assert f'!define DATA_PARENT "$LOCALAPPDATA\\{APP_AUTHOR}"' in nsi
    assert f'!define DATA_DIR "${{DATA_PARENT}}\\{APP_NAME}"' in nsi


# -- macOS, by its LaunchAgent -----------------------------------------------------------------


def test_macos_launch_agent(tmp_path: Path) -> None:
    mac = MacAutostart(tmp_path)
    assert not mac.enabled()
    command = ["/Applications/Bridge.app/Contents/MacOS/bridge"]
    mac.enable(command)
    path = tmp_path / "Library" / "LaunchAgents" / "com.ventasxmayor.bridge.plist"
    assert mac.location() == str(path)
    data = plistlib.loads(path.read_bytes())
    assert data["Label"] == "com.ventasxmayor.bridge"
    assert data["ProgramArguments"] == command
    assert data["RunAtLoad"] is True
    assert mac.enabled()
    mac.disable()
    assert not path.exists() and not mac.enabled()


def test_backend_per_platform() -> None:
    assert isinstance(autostart.backend("linux"), XdgAutostart)
    assert isinstance(autostart.backend("darwin"), MacAutostart)
    if sys.platform != "win32":
        with pytest.raises(ImportError):  # no winreg here
            autostart.backend("win32")


# -- the command -------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG desktops")
def test_cli_autostart_on_status_off(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    env.pop("BRIDGE_DATA_DIR", None)
    env.pop("BRIDGE_CONFIG", None)
    desktop = tmp_path / "cfg" / "autostart" / "bridge.desktop"

    def bridge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "launcher", *args],
            env=env,
            text=True,
            capture_output=True,
            timeout=60,
        )

    r = bridge("autostart", "status")
    assert r.returncode == 0 and r.stdout.startswith("autostart off"), r.stdout + r.stderr
    r = bridge("--data-dir", str(tmp_path / "my profile"), "autostart", "on")
    assert r.returncode == 0 and str(desktop) in r.stdout, r.stdout + r.stderr
    argv = parse_desktop_exec(read_desktop_entry(desktop)["Exec"])
    assert argv == [
        sys.executable,
        "-m",
        "launcher",
        "--data-dir",
        str((tmp_path / "my profile").resolve()),
    ]
    assert bridge("autostart", "status").stdout.startswith("autostart on")
    r = bridge("autostart", "off")
    assert r.returncode == 0 and not desktop.exists()
    assert bridge("autostart", "status").stdout.startswith("autostart off")


# -- the settings checkbox ---------------------------------------------------------------------


def test_settings_checkbox_shows_and_applies_autostart(qtbot: Any, tmp_path: Path) -> None:
    from bridge.secrets import SecretStore
    from tests.conftest import write_profile
    from ui.i18n import set_language
    from ui.settings import SettingsDialog

    set_language("en")
    paths = write_profile(tmp_path, "http://127.0.0.1:9/", "http://127.0.0.1:9/api/", "CLI")
    secrets = SecretStore(use_keyring=False)
    secrets.set_session("store.token", "store-token-for-settings")
    secrets.set_session("erp.token", "erp-token-for-settings")
    backend = XdgAutostart(tmp_path / "cfg")
    from bridge.config import load_config

    def dialog() -> SettingsDialog:
        d = SettingsDialog(
            paths, secrets, load_config(paths.config_file), autostart_backend=backend
        )
        qtbot.addWidget(d)
        return d

    d = dialog()
    assert d.autostart_on.text() == "Start Bridge when I log in"
    assert not d.autostart_on.isChecked()
    d.autostart_on.setChecked(True)
    d.save()
    assert d.result() == d.DialogCode.Accepted, d.problem.text()
    assert backend.enabled()
    assert parse_desktop_exec(read_desktop_entry(backend.path)["Exec"]) == launch_command()

    d = dialog()
    assert d.autostart_on.isChecked()  # shows the current state
    d.save()  # unchanged: nothing rewritten
    assert backend.enabled()
    d = dialog()
    d.autostart_on.setChecked(False)
    d.save()
    assert not backend.enabled() and not backend.path.exists()

    set_language("es_AR")
    try:
        assert dialog().autostart_on.text() == "Iniciar Bridge al iniciar sesión"
    finally:
        set_language("en")
