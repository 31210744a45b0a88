"""Windows .ico and macOS .icns for the executables, built from the committed PNGs in
resources/icons (pure Python: both formats can hold PNG images as they are)."""

from __future__ import annotations

import struct
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def write_ico(out: Path, sizes: tuple[int, ...] = (16, 24, 32, 48, 64, 128, 256)) -> Path:
    images = [(s, (ICONS / f"app-{s}.png").read_bytes()) for s in sizes]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, blobs = b"", b""
    for size, png in images:
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(png), offset)
        offset += len(png)
        blobs += png
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(header + entries + blobs)
    return out


# icns element types that hold PNG data
_ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08"}


def write_icns(out: Path) -> Path:
    body = b""
    for size, kind in _ICNS_TYPES.items():
        png = (ICONS / f"app-{size}.png").read_bytes()
        body += kind + struct.pack(">I", len(png) + 8) + png
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"icns" + struct.pack(">I", len(body) + 8) + body)
    return out
