"""Start Bridge when the merchant logs in, per OS (no Qt here):

- Linux (and other XDG desktops): `$XDG_CONFIG_HOME/autostart/bridge.desktop`
  (default `~/.config/autostart`), per the XDG Autostart and Desktop Entry specs;
- Windows: the value `Bridge` under `HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`
  (the installer's "Start Bridge when I log in" task writes the same value);
- macOS: `~/Library/LaunchAgents/com.ventasxmayor.bridge.plist` with RunAtLoad.

The command started is the tray app: the bundle's `bridge` executable when frozen, else
`<this Python> -m launcher`. Where things are written can be injected (a base dir, a winreg
module) so each variant is testable on any OS.

    enabled() -> bool;  enable(command=None);  disable()
"""

from __future__ import annotations

import configparser
import contextlib
import os
import plistlib
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

APP_NAME = "Bridge"
DESKTOP_FILE = "bridge.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "Bridge"
LAUNCH_AGENT_LABEL = "com.ventasxmayor.bridge"


def launch_command(extra: list[str] | None = None) -> list[str]:
    """How to start the tray app from a login session: the GUI executable of a frozen
    bundle (next to the running one: `bridge-cli autostart on` must not autostart the
    console exe), else this interpreter with `-m launcher` (pythonw on Windows: no console)."""
    if getattr(sys, "frozen", False):
        exe = Path(sys.executable)
        gui = exe.with_name("bridge" + exe.suffix)
        cmd = [str(gui if gui.exists() else exe)]
    else:
        python = Path(sys.executable)
        if sys.platform == "win32":
            windowless = python.with_name("pythonw.exe")
            if windowless.exists():
                python = windowless
        cmd = [str(python), "-m", "launcher"]
    return cmd + list(extra or [])


class Autostart(Protocol):
    def enabled(self) -> bool: ...

    def enable(self, command: list[str]) -> None: ...

    def disable(self) -> None: ...

    def location(self) -> str: ...


# -- Linux / XDG -------------------------------------------------------------------------------

# Desktop Entry spec, "The Exec key": characters that force an argument to be quoted, and
# those that must be backslash-escaped inside the quotes
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPE_IN_QUOTES = set('"`$\\')


def desktop_exec(argv: list[str]) -> str:
    """An argv as the Exec value of a .desktop file (before the file's own string escaping,
    which `_desktop_value` adds)."""
    parts = []
    for arg in argv:
        arg = arg.replace("%", "%%")  # field codes
        if not arg or any(c in _RESERVED for c in arg):
            arg = '"' + "".join("\\" + c if c in _ESCAPE_IN_QUOTES else c for c in arg) + '"'
        parts.append(arg)
    return " ".join(parts)


def parse_desktop_exec(value: str) -> list[str]:
    """The inverse of `desktop_exec` (after the string unescaping), as a launcher reads it
    (GLib expands `%%` anywhere, then splits on the quoting rules)."""
    out: list[str] = []
    cur: list[str] = []
    have = False
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == '"':
            have = True
            i += 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n and value[i + 1] in _ESCAPE_IN_QUOTES:
                    i += 1
                elif value[i] == "%" and i + 1 < n and value[i + 1] == "%":
                    i += 1  # field codes are expanded inside quotes too
                cur.append(value[i])
                i += 1
            i += 1  # closing quote
            continue
        if c == " ":
            if have:
                out.append("".join(cur))
            cur, have = [], False
        elif c == "%" and i + 1 < n and value[i + 1] == "%":
            cur.append("%")
            have = True
            i += 1
        else:
            cur.append(c)
            have = True
        i += 1
    if have:
        out.append("".join(cur))
    return out


def _desktop_value(text: str) -> str:
    """String escaping of a Desktop Entry value (\\\\, \\n, \\t, \\r)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _desktop_unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"\\": "\\", "n": "\n", "t": "\t", "r": "\r", "s": " "}.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def read_desktop_entry(path: Path) -> dict[str, str]:
    """The [Desktop Entry] group of a .desktop file, values unescaped."""
    parser = configparser.ConfigParser(
        interpolation=None, strict=True, delimiters=("=",), comment_prefixes=("#",)
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return {k: _desktop_unescape(v) for k, v in parser["Desktop Entry"].items()}


def _icon() -> str:
    try:
        from resources.icons import icon_path

        return str(icon_path("app-256"))
    except (ImportError, FileNotFoundError):
        return "bridge"


class XdgAutostart:
    def __init__(self, config_home: Path | None = None) -> None:
        if config_home is None:
            env = os.environ.get("XDG_CONFIG_HOME")
            # the spec: an unset or relative XDG_CONFIG_HOME means ~/.config
            config_home = Path(env) if env and os.path.isabs(env) else Path.home() / ".config"
        self.path = config_home / "autostart" / DESKTOP_FILE

    def location(self) -> str:
        return str(self.path)

    def enabled(self) -> bool:
        if not self.path.is_file():
            return False
        try:
            entry = read_desktop_entry(self.path)
        except (configparser.Error, KeyError, OSError, UnicodeDecodeError):
            return False
        return (
            entry.get("Hidden", "false").lower() != "true"
            and entry.get("X-GNOME-Autostart-enabled", "true").lower() != "false"
        )

    def enable(self, command: list[str]) -> None:
        lines = [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.0",
            f"Name={APP_NAME}",
            "Comment=" + _desktop_value("Keeps the VentasxMayor store and your ERP in sync"),
            "Comment[es]="
            + _desktop_value("Mantiene sincronizados la tienda VentasxMayor y tu ERP"),
            "Exec=" + _desktop_value(desktop_exec(command)),
            "Icon=" + _desktop_value(_icon()),
            "Terminal=false",
            "Categories=Office;",
            "X-GNOME-Autostart-enabled=true",
            "Hidden=false",
            "NoDisplay=false",
        ]
        _write_atomic(self.path, ("\n".join(lines) + "\n").encode("utf-8"))

    def disable(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# -- Windows -----------------------------------------------------------------------------------


class WindowsAutostart:
    """HKCU Run value. `winreg` is injectable (a fake one in the tests)."""

    def __init__(self, winreg: Any = None) -> None:
        if winreg is None:
            import winreg as _winreg  # type: ignore[import-not-found,unused-ignore]

            winreg = _winreg
        self.winreg = winreg

    def location(self) -> str:
        return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{RUN_VALUE}"

    def value(self) -> str | None:
        w = self.winreg
        try:
            with w.OpenKey(w.HKEY_CURRENT_USER, RUN_KEY, 0, w.KEY_READ) as key:
                value, _kind = w.QueryValueEx(key, RUN_VALUE)
        except OSError:  # FileNotFoundError: no key or no value
            return None
        return str(value) if value else None

    def enabled(self) -> bool:
        return self.value() is not None

    def enable(self, command: list[str]) -> None:
        w = self.winreg
        with w.CreateKeyEx(w.HKEY_CURRENT_USER, RUN_KEY, 0, w.KEY_SET_VALUE) as key:
            w.SetValueEx(key, RUN_VALUE, 0, w.REG_SZ, subprocess.list2cmdline(command))

    def disable(self) -> None:
        w = self.winreg
        try:
            with w.OpenKey(w.HKEY_CURRENT_USER, RUN_KEY, 0, w.KEY_SET_VALUE) as key:
                w.DeleteValue(key, RUN_VALUE)
        except FileNotFoundError:
            pass


# -- macOS -------------------------------------------------------------------------------------


class MacAutostart:
    def __init__(self, home: Path | None = None) -> None:
        self.path = (
            (home or Path.home()) / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
        )

    def location(self) -> str:
        return str(self.path)

    def enabled(self) -> bool:
        try:
            data = plistlib.loads(self.path.read_bytes())
        except (OSError, plistlib.InvalidFileException, ValueError):
            return False
        return bool(data.get("RunAtLoad")) and not data.get("Disabled", False)

    def enable(self, command: list[str]) -> None:
        plist = {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            # a GUI app in the user's session; launchd does not restart it after a quit
            "ProcessType": "Interactive",
            "KeepAlive": False,
        }
        _write_atomic(self.path, plistlib.dumps(plist))

    def disable(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# -- per OS ------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def backend(platform: str | None = None) -> Autostart:
    platform = platform or sys.platform
    if platform == "win32":
        return WindowsAutostart()
    if platform == "darwin":
        return MacAutostart()
    return XdgAutostart()


def enabled(*, using: Autostart | None = None) -> bool:
    return (using or backend()).enabled()


def enable(command: list[str] | None = None, *, using: Autostart | None = None) -> None:
    (using or backend()).enable(command or launch_command())


def disable(*, using: Autostart | None = None) -> None:
    (using or backend()).disable()
