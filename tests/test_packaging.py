"""Packaging pieces that can be checked without building: resources found in a frozen
layout, the .ico/.icns written from the PNGs, the launcher. (The bundle itself is built
and self-tested by build/linux/build.sh, after the suite in .ci/run.)"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build"))


def test_resource_dir_falls_back_to_meipass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resources import resource_dir

    assert (resource_dir("icons") / "app-64.png").is_file()
    assert (resource_dir("i18n") / "es_AR.json").is_file()
    (tmp_path / "resources" / "only-frozen").mkdir(parents=True)
    assert not resource_dir("only-frozen").is_dir()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_dir("only-frozen") == tmp_path / "resources" / "only-frozen"
    # the package's own folder wins when it has the data
    assert resource_dir("icons") == ROOT / "resources" / "icons"


def test_ico_and_icns_hold_every_size(tmp_path: Path) -> None:
    from icons import write_icns, write_ico

    ico = write_ico(tmp_path / "bridge.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, 7)
    sizes = []
    for i in range(count):
        w, h, _c, _r, _p, bpp, size, offset = struct.unpack(
            "<BBBBHHII", ico[6 + 16 * i : 22 + 16 * i]
        )
        sizes.append(w or 256)
        assert w == h and bpp == 32
        assert ico[offset : offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + size <= len(ico)
    assert sizes == [16, 24, 32, 48, 64, 128, 256]
    from PySide6.QtGui import QImage

    image = QImage(str(tmp_path / "bridge.ico"))  # Qt's own ICO reader accepts it
    assert not image.isNull()
    icns = write_icns(tmp_path / "bridge.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


def test_launcher_runs_the_cli() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "build" / "entry.py"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0 and r.stdout.startswith("bridge "), r.stderr
