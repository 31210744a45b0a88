"""A real X display with a real system tray for UI tests: Xvfb plus the `trayer` panel.

    with real_tray_display() as env:
        subprocess.run([sys.executable, "-c", CODE], env=env, check=True)

Qt under ``QT_QPA_PLATFORM=offscreen`` has no system tray (QSystemTrayIcon.
isSystemTrayAvailable() is False), so tray behaviour needs an X server and a tray host that
owns the ``_NET_SYSTEM_TRAY_S0`` selection. Run the Qt code in a child process with the
yielded environment: the pytest process itself never connects to the display (Xlib ends
a process whose X server goes away).

When a program or library is missing, `real_tray_display` calls pytest.skip naming the
Debian packages to install (see APT_PACKAGES).
"""

from __future__ import annotations

import ctypes.util
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

#: Everything the fixture and Qt's xcb platform plugin need, as Debian 12 packages.
APT_PACKAGES: tuple[str, ...] = (
    "xvfb",
    "trayer",
    # Qt's xcb platform plugin (libqxcb.so) on top of Qt's own libraries
    "libx11-6",
    "libx11-xcb1",
    "libxcb1",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-shm0",
    "libxcb-sync1",
    "libxcb-util1",
    "libxcb-xfixes0",
    "libxcb-xkb1",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    "libgl1",
    "libegl1",
    "libglib2.0-0",
    "libfontconfig1",
    "libfreetype6",
    "libdbus-1-3",
)

_PROGRAMS = {"Xvfb": "xvfb", "trayer": "trayer"}
# library name for ctypes.util.find_library -> package
_LIBRARIES = {
    "X11": "libx11-6",
    "X11-xcb": "libx11-xcb1",
    "xcb": "libxcb1",
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-image": "libxcb-image0",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-randr": "libxcb-randr0",
    "xcb-render": "libxcb-render0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0",
    "xcb-shm": "libxcb-shm0",
    "xcb-sync": "libxcb-sync1",
    "xcb-util": "libxcb-util1",
    "xcb-xfixes": "libxcb-xfixes0",
    "xcb-xkb": "libxcb-xkb1",
    "xkbcommon": "libxkbcommon0",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "GL": "libgl1",
    "EGL": "libegl1",
    "glib-2.0": "libglib2.0-0",
    "fontconfig": "libfontconfig1",
    "freetype": "libfreetype6",
    "dbus-1": "libdbus-1-3",
}

# Run in a child: polls until some client owns the tray selection of screen 0.
_WAIT_FOR_TRAY = r"""
import ctypes, ctypes.util, sys, time
x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
x11.XInternAtom.restype = ctypes.c_ulong
x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
x11.XGetSelectionOwner.restype = ctypes.c_ulong
x11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
dpy = x11.XOpenDisplay(sys.argv[1].encode())
if not dpy:
    sys.exit("cannot open display " + sys.argv[1])
atom = x11.XInternAtom(dpy, b"_NET_SYSTEM_TRAY_S0", 0)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    owner = x11.XGetSelectionOwner(dpy, atom)
    if owner:
        print(hex(owner))
        x11.XCloseDisplay(dpy)
        sys.exit(0)
    time.sleep(0.02)
x11.XCloseDisplay(dpy)
sys.exit("_NET_SYSTEM_TRAY_S0 has no owner")
"""


def missing_packages() -> list[str]:
    """Debian packages whose program or library is not on this machine."""
    missing = [pkg for prog, pkg in _PROGRAMS.items() if shutil.which(prog) is None]
    missing += [pkg for lib, pkg in _LIBRARIES.items() if ctypes.util.find_library(lib) is None]
    return missing


def _stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _read_display_number(fd: int, timeout: float) -> str:
    """What Xvfb writes to its -displayfd once it accepts connections: the display number
    and a newline. "" on EOF (Xvfb exited) or timeout."""
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return ""
        chunk = os.read(fd, 64)
        if not chunk:
            return ""
        data += chunk
    return data.decode(errors="replace").strip()


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


@contextmanager
def real_tray_display(
    width: int = 1280, height: int = 800, tray_height: int = 24, timeout: float = 15.0
) -> Iterator[dict[str, str]]:
    """Starts ``Xvfb`` on a free display (``-displayfd``) with a ``width``x``height``x24
    screen and a ``trayer`` panel at its top right edge, waits until the panel owns
    ``_NET_SYSTEM_TRAY_S0``, and yields a copy of os.environ with ``DISPLAY`` set to it and
    ``QT_QPA_PLATFORM=xcb`` (``WAYLAND_DISPLAY`` and ``XAUTHORITY`` removed; the server
    listens on its local socket only and needs no cookie). Both processes are stopped on
    exit. Skips the test when a program or library is missing, naming the apt packages.
    """
    missing = missing_packages()
    if missing:
        pytest.skip(
            "a real X display with a system tray needs: apt-get install " + " ".join(missing)
        )

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-x-")))
        xvfb_log = workdir / "xvfb.log"
        trayer_log = workdir / "trayer.log"

        read_fd, write_fd = os.pipe()
        try:
            with open(xvfb_log, "wb") as log:
                xvfb = subprocess.Popen(
                    [
                        "Xvfb",
                        "-displayfd",
                        str(write_fd),
                        "-screen",
                        "0",
                        f"{width}x{height}x24",
                        "-nolisten",
                        "tcp",
                        "-noreset",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,),
                )
            stack.callback(_stop, xvfb)
            os.close(write_fd)
            write_fd = -1
            number = _read_display_number(read_fd, timeout)
        finally:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
        if not number.isdigit():
            _stop(xvfb)
            raise RuntimeError(
                f"Xvfb did not report a display within {timeout} s "
                f"(exit {xvfb.returncode}):\n" + _log_tail(xvfb_log)
            )
        display = f":{number}"

        env = dict(os.environ)
        for var in ("WAYLAND_DISPLAY", "XAUTHORITY"):
            env.pop(var, None)
        env.update({"DISPLAY": display, "QT_QPA_PLATFORM": "xcb"})

        with open(trayer_log, "wb") as log:
            trayer = subprocess.Popen(
                [
                    "trayer",
                    "--edge",
                    "top",
                    "--align",
                    "right",
                    "--widthtype",
                    "request",
                    "--heighttype",
                    "pixel",
                    "--height",
                    str(tray_height),
                    "--transparent",
                    "false",
                    "--SetDockType",
                    "true",
                    "--SetPartialStrut",
                    "true",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        stack.callback(_stop, trayer)

        started = time.monotonic()
        wait = subprocess.run(
            [sys.executable, "-c", _WAIT_FOR_TRAY, display, str(timeout)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout + 10,
        )
        if wait.returncode != 0:
            raise RuntimeError(
                f"no system tray on {display} after {time.monotonic() - started:.1f} s: "
                f"{wait.stderr.strip()}\ntrayer (exit {trayer.poll()}):\n"
                + _log_tail(trayer_log)
                + "\nXvfb:\n"
                + _log_tail(xvfb_log)
            )
        yield env


__all__ = ["APT_PACKAGES", "missing_packages", "real_tray_display"]
