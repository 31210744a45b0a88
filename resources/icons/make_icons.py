"""Draws Bridge's tray and application icons with QPainter and saves them as PNGs here.

    .venv/bin/python resources/icons/make_icons.py [--contact-sheet /tmp/icons.png]

Tray states differ in shape, not only in colour (colour-blind users): idle is a filled disc
with a check mark, syncing two circular arrows, paused two bars, error a filled disc with
"!", disconnected a hollow ring with a slash. Each is drawn in a ``light`` variant (dark
outline, for light panels) and a ``dark`` one (light outline, for dark panels). Drawing is
done at the target size (not scaled down) so small icons stay sharp. Output is
deterministic: rerunning without design changes rewrites identical files.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repo root, for `resources.icons`

from PySide6.QtCore import QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import (  # noqa: E402
    QBrush,
    QColor,
    QGuiApplication,
    QImage,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)

from resources.icons import APP_SIZES, STATES, TRAY_SIZES, VARIANTS  # noqa: E402

BRAND = QColor("#1E6FD9")
BRAND_LIGHT = QColor("#3D86E6")  # the bridge, a shade lighter so it stays visible on dark
STATE_COLOURS = {
    "idle": QColor("#2E9E4F"),
    "syncing": QColor("#1E6FD9"),
    "paused": QColor("#F2A516"),
    "error": QColor("#D93025"),
    "disconnected": QColor("#8C939D"),
}
OUTLINES = {"light": QColor("#1F2328"), "dark": QColor("#F4F6F8")}
GLYPH = QColor("#FFFFFF")


# -- helpers -------------------------------------------------------------------------------


def new_image(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    return image


def painter_for(image: QImage) -> QPainter:
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    return p


def stroke_area(path: QPainterPath, width: float, cap: Qt.PenCapStyle) -> QPainterPath:
    """The filled area that stroking `path` with a pen of `width` would cover."""
    stroker = QPainterPathStroker()
    stroker.setWidth(width)
    stroker.setCapStyle(cap)
    stroker.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return stroker.createStroke(path).simplified()


def paint_outlined(
    p: QPainter, area: QPainterPath, fill: QColor, outline: QColor, outline_w: float
) -> None:
    """Fills `area` with `fill`, with an `outline_w` wide `outline` band around it."""
    p.setPen(
        QPen(
            outline,
            2 * outline_w,
            Qt.PenStyle.SolidLine,
            Qt.PenCapStyle.RoundCap,
            Qt.PenJoinStyle.RoundJoin,
        )
    )
    p.setBrush(QBrush(outline))
    p.drawPath(area)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(fill))
    p.drawPath(area)


def outline_width(size: int) -> float:
    return max(1.0, size / 16)


def polar(cx: float, cy: float, r: float, deg: float) -> QPointF:
    """Point at `deg` degrees counter-clockwise from 3 o'clock (screen y points down)."""
    a = math.radians(deg)
    return QPointF(cx + r * math.cos(a), cy - r * math.sin(a))


def disc(size: int) -> tuple[float, float, float, QPainterPath]:
    """The filled disc used by idle and error: centre, radius and its path."""
    ow = outline_width(size)
    c = size / 2
    r = c - ow - 0.25
    path = QPainterPath()
    path.addEllipse(QPointF(c, c), r, r)
    return c, c, r, path


# -- tray states ---------------------------------------------------------------------------


def draw_idle(p: QPainter, size: int, fill: QColor, outline: QColor) -> None:
    cx, cy, r, area = disc(size)
    paint_outlined(p, area, fill, outline, outline_width(size))
    check = QPainterPath(QPointF(cx - 0.50 * r, cy + 0.02 * r))
    check.lineTo(QPointF(cx - 0.14 * r, cy + 0.38 * r))
    check.lineTo(QPointF(cx + 0.50 * r, cy - 0.32 * r))
    p.setPen(
        QPen(
            GLYPH,
            max(1.6, 0.24 * r),
            Qt.PenStyle.SolidLine,
            Qt.PenCapStyle.RoundCap,
            Qt.PenJoinStyle.RoundJoin,
        )
    )
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(check)


def draw_error(p: QPainter, size: int, fill: QColor, outline: QColor) -> None:
    cx, cy, r, area = disc(size)
    paint_outlined(p, area, fill, outline, outline_width(size))
    w = max(1.7, 0.26 * r)
    p.setPen(QPen(GLYPH, w, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.drawLine(QPointF(cx, cy - 0.58 * r + w / 2), QPointF(cx, cy + 0.08 * r))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(GLYPH))
    dot = max(0.95, 0.15 * r)
    p.drawEllipse(QPointF(cx, cy + 0.55 * r), dot, dot)


def draw_syncing(p: QPainter, size: int, fill: QColor, outline: QColor) -> None:
    ow = outline_width(size)
    t = max(1.6, 0.11 * size)  # arc thickness
    head_w = 2.7 * t  # arrowhead base, across the arc
    head_out = 0.58 * head_w  # how far the base reaches outwards from the arc's centre line
    head_l = 1.45 * t  # arrowhead length, along the arc
    c = size / 2
    r = c - ow - head_out + 0.1  # arc centre line
    rect = QRectF(c - r, c - r, 2 * r, 2 * r)
    area = QPainterPath()
    sweep = 118.0
    for start in (35.0, 215.0):  # two arcs, each ending in an arrowhead (counter-clockwise)
        arc = QPainterPath()
        arc.arcMoveTo(rect, start)
        arc.arcTo(rect, start, sweep)
        area = area.united(stroke_area(arc, t, Qt.PenCapStyle.FlatCap))
        end = math.radians(start + sweep)
        base = polar(c, c, r, start + sweep)
        tangent = QPointF(-math.sin(end), -math.cos(end))  # direction of travel
        normal = QPointF(math.cos(end), -math.sin(end))  # outwards
        head = QPolygonF(
            [
                base + normal * head_out - tangent * 0.05,
                base + tangent * head_l,
                base - normal * (head_w - head_out) - tangent * 0.05,
            ]
        )
        tri = QPainterPath()
        tri.addPolygon(head)
        tri.closeSubpath()
        area = area.united(tri)
    paint_outlined(p, area.simplified(), fill, outline, ow)


def draw_paused(p: QPainter, size: int, fill: QColor, outline: QColor) -> None:
    ow = outline_width(size)
    bar_w = max(3.0, 0.27 * size)
    gap = 2 * ow + max(1.5, 0.1 * size)  # background must show between the outlines
    top = ow + 0.08 * size
    height = size - 2 * top
    left = (size - 2 * bar_w - gap) / 2
    radius = min(bar_w / 3, 0.06 * size + 0.5)
    area = QPainterPath()
    for x in (left, left + bar_w + gap):
        area.addRoundedRect(QRectF(x, top, bar_w, height), radius, radius)
    paint_outlined(p, area, fill, outline, ow)


def draw_disconnected(p: QPainter, size: int, fill: QColor, outline: QColor) -> None:
    """A "no entry" sign: grey ring and slash on a white disc. The white inside keeps the
    small sizes clean (no outline around the holes) and makes the silhouette unlike the
    filled discs of idle and error."""
    ow = outline_width(size)
    t = max(1.9, 0.13 * size)
    cx, cy, r_out, area = disc(size)
    paint_outlined(p, area, GLYPH, outline, ow)
    r = r_out - t / 2
    ring = QPainterPath()
    ring.addEllipse(QPointF(cx, cy), r, r)
    slash = QPainterPath(polar(cx, cy, r, 135))
    slash.lineTo(polar(cx, cy, r, 315))
    mark = stroke_area(ring, t, Qt.PenCapStyle.FlatCap).united(
        stroke_area(slash, t, Qt.PenCapStyle.FlatCap)
    )
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(fill))
    p.drawPath(mark.simplified())


DRAWERS: dict[str, Callable[[QPainter, int, QColor, QColor], None]] = {
    "idle": draw_idle,
    "syncing": draw_syncing,
    "paused": draw_paused,
    "error": draw_error,
    "disconnected": draw_disconnected,
}


def tray_icon(state: str, variant: str, size: int) -> QImage:
    image = new_image(size)
    p = painter_for(image)
    DRAWERS[state](p, size, STATE_COLOURS[state], OUTLINES[variant])
    p.end()
    return image


# -- application icon ----------------------------------------------------------------------


def app_icon(size: int) -> QImage:
    """Two boxes (the store and the ERP) joined by an arch bridge, on a 32-unit grid."""
    image = new_image(size)
    p = painter_for(image)
    u = size / 32
    small = size < 32
    edge = QColor("#0A2F66")
    edge_w = max(0.8, 0.7 * u)

    # the bridge: deck between the boxes' tops, an arch over it, hangers at larger sizes
    deck_y, deck_h = 15.0 * u, max(1.6, 2.2 * u)
    arch = QPainterPath(QPointF(7.0 * u, deck_y + deck_h / 2))
    arch.cubicTo(
        QPointF(11.0 * u, 3.0 * u),
        QPointF(21.0 * u, 3.0 * u),
        QPointF(25.0 * u, deck_y + deck_h / 2),
    )
    arch_w = max(1.6, 2.4 * u)
    area = stroke_area(arch, arch_w, Qt.PenCapStyle.FlatCap)
    deck = QPainterPath()
    deck.addRect(QRectF(6.0 * u, deck_y, 20.0 * u, deck_h))
    area = area.united(deck)
    if not small:
        for x in (12.5, 16.0, 19.5):
            hanger = QPainterPath()
            hanger.addRect(QRectF((x - 0.55) * u, 8.0 * u, 1.1 * u, deck_y - 8.0 * u))
            area = area.united(hanger)
    paint_outlined(p, area.simplified(), BRAND_LIGHT, edge, edge_w * 0.6)

    # the boxes, with a lid line so they read as boxes
    box_r = 2.2 * u
    for x in (1.5, 20.5):
        box = QRectF(x * u, 14.0 * u, 10.0 * u, 14.5 * u)
        path = QPainterPath()
        path.addRoundedRect(box, box_r, box_r)
        paint_outlined(p, path, BRAND, edge, edge_w * 0.6)
        p.save()
        p.setClipPath(path)
        p.setPen(
            QPen(
                QColor(255, 255, 255, 235),
                max(1.0, 1.2 * u),
                Qt.PenStyle.SolidLine,
                Qt.PenCapStyle.FlatCap,
            )
        )
        lid_y = box.top() + max(2.5, 4.0 * u)
        p.drawLine(QPointF(box.left(), lid_y), QPointF(box.right(), lid_y))
        p.restore()
    p.end()
    return image


# -- output --------------------------------------------------------------------------------


def save(image: QImage, path: Path) -> None:
    if not image.save(str(path)):  # the format follows the .png suffix
        raise OSError(f"could not write {path}")


def contact_sheet(images: list[tuple[str, list[QImage]]], scale: int) -> QImage:
    """Rows of icons magnified `scale` times (nearest neighbour) on a light and a dark panel."""
    pad = 6
    heights = [max(img.height() for img in imgs) * scale + 2 * pad for _, imgs in images]
    row_w = max(sum(img.width() * scale + 2 * pad for img in imgs) for _, imgs in images)
    sheet = QImage(row_w * 2 + 20, sum(heights), QImage.Format.Format_ARGB32)
    sheet.fill(QColor("#808080"))
    p = QPainter(sheet)
    for half, bg in enumerate((QColor("#EDEFF2"), QColor("#2B2F36"))):
        x0 = half * (row_w + 20)
        p.fillRect(QRectF(x0, 0, row_w, sheet.height()), bg)
        y = 0
        for (_, imgs), height in zip(images, heights, strict=True):
            x = x0 + pad
            for img in imgs:
                big = img.scaled(
                    img.width() * scale,
                    img.height() * scale,
                    Qt.AspectRatioMode.IgnoreAspectRatio,
                    Qt.TransformationMode.FastTransformation,
                )
                p.drawImage(QPointF(x, y + pad), big)
                x += big.width() + 2 * pad
            y += height
    p.end()
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    parser.add_argument(
        "--contact-sheet",
        type=Path,
        metavar="PNG",
        help="also write an enlarged review sheet of every icon to this file",
    )
    parser.add_argument(
        "--sheet-sizes",
        default="16,22,24,32",
        help="sizes shown on the contact sheet (default: 16,22,24,32)",
    )
    parser.add_argument("--scale", type=int, default=6, help="contact sheet magnification")
    args = parser.parse_args(argv)

    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    sheet_sizes = {int(s) for s in args.sheet_sizes.split(",") if s.strip()}
    rows: list[tuple[str, list[QImage]]] = []
    count = 0
    for variant in VARIANTS:
        for state in STATES:
            row = []
            for size in TRAY_SIZES:
                image = tray_icon(state, variant, size)
                save(image, out / f"tray-{state}-{variant}-{size}.png")
                count += 1
                if size in sheet_sizes:
                    row.append(image)
            rows.append((f"{state}-{variant}", row))
    app_row = []
    for size in APP_SIZES:
        image = app_icon(size)
        save(image, out / f"app-{size}.png")
        count += 1
        if size in sheet_sizes:
            app_row.append(image)
    rows.append(("app", app_row))

    if args.contact_sheet:
        save(contact_sheet(rows, args.scale), args.contact_sheet)
    print(f"wrote {count} icons to {out}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
