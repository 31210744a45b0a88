"""Install, use, upgrade and uninstall Bridge-Setup-<version>.exe under Wine, and check what
each step leaves behind. Run on the Linux host by build/windows/ci.sh (step `installer`),
with WINEPREFIX set to the lane's prefix; the standard library only.

    python3 build/windows/check_installer.py dist/windows/Bridge-Setup-0.1.0.exe

1. silent per-user install with autostart and a desktop shortcut: program folder,
   Start-menu entry, desktop shortcut, the Run value pointing at the installed bridge.exe,
   the "Apps & features" entry;
2. the installed `bridge-cli.exe --selftest` (WinVault keyring), `autostart status`;
   autostart turned off and on by the program, each kept by an upgrade; and some of the
   merchant's data: a token in the Credential Manager, a headless demo's state
   and logs in %LOCALAPPDATA%\\VentasxMayor\\bridge;
3. silent uninstall: every file, shortcut and registry value of the program gone; the
   merchant's data and token kept;
4. install again without autostart (an upgrade over the kept data keeps it), then uninstall
   with /PURGE: nothing of Bridge is left at all.
Exits 1 at the first check that fails, saying what was found.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path, PureWindowsPath

PREFIX = Path(os.environ["WINEPREFIX"])
RUN_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"
UNINST_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\Bridge"
# the lane's own Windows python, to look at the Credential Manager from outside Bridge
LANE_PY = r"C:\py311\python.exe"
SECRET = "installer-check-7c1e"

started = time.monotonic()
checks = 0


def say(text: str) -> None:
    print(f"[{time.monotonic() - started:5.1f} s] {text}", flush=True)


def check(ok: bool, what: str, found: object = "") -> None:
    global checks
    if not ok:
        print(f"FAIL {what}" + (f": {found}" if found != "" else ""), flush=True)
        sys.exit(1)
    checks += 1
    print(f"ok   {what}", flush=True)


def wine(*args: str, stdin: str | None = None, timeout: float = 300) -> tuple[int, str]:
    """A Windows program under Wine: std handles are pipes (a regular file as stdout makes
    Windows CPython abort at start-up under Wine 8.0)."""
    proc = subprocess.run(
        ["wine", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    return proc.returncode, proc.stdout + proc.stderr


def settle() -> None:
    """Wait for every process of the prefix to end (an NSIS uninstaller re-launches itself
    from %TEMP% and returns at once)."""
    subprocess.run(["wineserver", "-w"], timeout=300, check=False)


def user_dir() -> Path:
    users = [
        p
        for p in (PREFIX / "drive_c" / "users").iterdir()
        if p.is_dir() and p.name.lower() != "public"
    ]
    check(len(users) == 1, "one Windows user profile in the prefix", users)
    return users[0]


def unix(win_path: str) -> Path:
    """C:\\... of the prefix as a path here."""
    p = PureWindowsPath(win_path)
    assert p.drive.upper() == "C:", win_path
    return PREFIX / "drive_c" / Path(*p.parts[1:])


def reg_value(key: str, name: str) -> str | None:
    code, out = wine("reg", "query", key, "/v", name)
    if code != 0:
        return None
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == name and parts[1].startswith("REG_"):
            return parts[2].strip()
    return None


def reg_key_exists(key: str) -> bool:
    return wine("reg", "query", key)[0] == 0


def registry_readable() -> None:
    """An absent value proves something only where the registry can be read at all."""
    check(
        reg_key_exists(r"HKCU\Software\Microsoft\Windows\CurrentVersion"),
        "the registry can be read",
    )


def keyring_get(name: str) -> str | None:
    code, out = wine(
        LANE_PY, "-c", f"import keyring; print(repr(keyring.get_password('bridge', {name!r})))"
    )
    check(code == 0, "the Credential Manager can be read", out[-500:])
    return eval(out.strip().splitlines()[-1])  # the repr of a str or None


def install(setup: Path, *args: str) -> None:
    t = time.monotonic()
    code, out = wine(str(setup), "/S", *args)
    settle()
    check(
        code == 0,
        f"silent install {' '.join(args)} exits 0 ({time.monotonic() - t:.1f} s)",
        out[-2000:],
    )


def uninstall(install_dir: Path, *args: str) -> None:
    """(An NSIS uninstaller copies itself to %TEMP% and returns at once: what it did is
    checked by what is left, after every process of the prefix has ended.)"""
    t = time.monotonic()
    code, out = wine(str(install_dir / "uninstall.exe"), "/S", *args)
    settle()
    check(
        code == 0,
        f"silent uninstall {' '.join(args)} started and ended ({time.monotonic() - t:.1f} s)",
        out[-2000:],
    )


def program_is_gone(install_dir: Path, start_menu: Path, desktop: Path) -> None:
    check(
        not install_dir.exists(),
        "the program folder is gone",
        sorted(str(p.relative_to(install_dir)) for p in install_dir.rglob("*"))[:20]
        if install_dir.exists()
        else "",
    )
    check(not start_menu.exists(), "the Start-menu entry is gone")
    check(not desktop.exists(), "the desktop shortcut is gone")
    registry_readable()
    check(reg_value(RUN_KEY, "Bridge") is None, "the autostart (Run) value is gone")
    check(not reg_key_exists(UNINST_KEY), "the 'Apps & features' entry is gone")


def main() -> int:
    setup = Path(sys.argv[1]).resolve()
    check(setup.is_file(), f"installer {setup.name} exists ({setup.stat().st_size // 2**20} MB)")
    home = user_dir()
    local = home / "AppData" / "Local"
    install_dir = local / "Programs" / "Bridge"
    start_menu = (
        home
        / "AppData"
        / "Roaming"
        / "Microsoft"
        / "Windows"
        / "Start Menu"
        / "Programs"
        / "Bridge.lnk"
    )
    desktop = home / "Desktop" / "Bridge.lnk"
    data_dir = local / "VentasxMayor" / "bridge"
    check(not install_dir.exists() and not data_dir.exists(), "a prefix without Bridge")

    say("1. silent install, autostart on, a desktop shortcut")
    install(setup, "/AUTOSTART=1", "/DESKTOP=1")
    for name in (
        "bridge.exe",
        "bridge-cli.exe",
        "uninstall.exe",
        "_internal/resources/i18n/es_AR.json",
    ):
        check((install_dir / name).is_file(), f"installed {name}")
    check(start_menu.is_file(), "Start-menu entry Programs\\Bridge.lnk")
    check(desktop.is_file(), "desktop shortcut Bridge.lnk")
    run = reg_value(RUN_KEY, "Bridge")
    check(
        run is not None
        and run.strip('"').lower().endswith(r"\programs\bridge\bridge.exe")
        and unix(run.strip('"')) == install_dir / "bridge.exe",
        "autostart: the Run value starts the installed bridge.exe",
        run,
    )
    check(
        reg_value(UNINST_KEY, "DisplayName") == "Bridge"
        and unix(reg_value(UNINST_KEY, "InstallLocation") or "C:\\") == install_dir,
        "'Apps & features' entry names Bridge and where it is",
    )
    version = reg_value(UNINST_KEY, "DisplayVersion")
    check(bool(version) and version in setup.name, "the entry carries the version", version)

    say("2. the installed program")
    cli = str(install_dir / "bridge-cli.exe")
    t = time.monotonic()
    code, out = wine(cli, "--selftest")
    print(out.strip())
    check(
        code == 0 and "selftest OK" in out and "WinVaultKeyring (secure)" in out,
        f"installed bridge-cli.exe --selftest ({time.monotonic() - t:.1f} s)",
    )
    code, out = wine(cli, "autostart", "status")
    check(
        code == 0 and out.startswith("autostart on"),
        "`bridge-cli autostart status` sees what the installer wrote",
        out,
    )
    installed_run = unix((reg_value(RUN_KEY, "Bridge") or "C:\\").strip('"'))
    code, out = wine(cli, "autostart", "off")
    check(
        code == 0 and reg_value(RUN_KEY, "Bridge") is None,
        "`bridge-cli autostart off` removes the installer's value",
        out,
    )
    install(setup)  # an upgrade over the installed copy, no /AUTOSTART or /DESKTOP given
    registry_readable()
    check(reg_value(RUN_KEY, "Bridge") is None, "an upgrade keeps autostart off")
    check(desktop.is_file(), "an upgrade keeps the desktop shortcut")
    code, out = wine(cli, "autostart", "on")
    run = reg_value(RUN_KEY, "Bridge")
    check(
        code == 0 and run is not None and unix(run.strip('"')) == installed_run,
        "`bridge-cli autostart on` writes the same value as the installer",
        run,
    )
    install(setup)
    check(reg_value(RUN_KEY, "Bridge") is not None, "an upgrade keeps autostart on")
    code, out = wine(cli, "secrets", "set", "store.token", stdin=SECRET + "\n")
    check(
        code == 0 and "keyring" in out and SECRET not in out,
        "a token stored in the Credential Manager",
        out,
    )
    code, out = wine(cli, "demo", "--headless", "--duration", "8", "--variants", "200", timeout=180)
    check(
        code == 0 and (data_dir / "demo" / "state.sqlite3").is_file(),
        "the demo ran and kept its state in the user's data folder",
        out[-1500:],
    )
    settle()
    kept = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file())

    say("3. silent uninstall (the merchant's data stays)")
    uninstall(install_dir)
    program_is_gone(install_dir, start_menu, desktop)
    now = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file())
    check(
        now == kept and kept, f"the data folder is kept as it was ({len(kept)} files)", (kept, now)
    )
    check(keyring_get("store.token") == SECRET, "the token is kept in the Credential Manager")

    say("4. install again without autostart, then uninstall with /PURGE")
    install(setup, "/AUTOSTART=0")
    check((install_dir / "bridge.exe").is_file(), "installed again")
    registry_readable()
    check(reg_value(RUN_KEY, "Bridge") is None, "no autostart when not asked for")
    check(not desktop.exists(), "no desktop shortcut when not asked for")
    code, out = wine(cli, "secrets", "list")
    check(
        code == 0 and "store.token" in out and "set (keyring)" in out,
        "the reinstalled program finds the kept token",
        out,
    )
    uninstall(install_dir, "/PURGE")
    program_is_gone(install_dir, start_menu, desktop)
    check(
        not data_dir.exists() and not data_dir.parent.exists(),
        "/PURGE removed the data folder (and the empty VentasxMayor folder)",
    )
    check(keyring_get("store.token") is None, "/PURGE removed the token")
    leftovers = [
        str(p)
        for p in home.rglob("*")
        if "bridge" in p.name.lower() and "temp" not in str(p).lower()
    ]
    check(not leftovers, "nothing named Bridge is left in the user's profile", leftovers)
    say(f"installer checks passed: {checks} checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
