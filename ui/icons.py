"""Icons from resources/icons (drawn by resources/icons/make_icons.py), one per tray state,
for light and dark panels."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette

from resources.icons import app_icon_paths, tray_icon_paths

# each overall state (bridge.status.Overall) and the drawing it shows: red "!" only for
# what needs the merchant; a grey ring for a Bridge that retries or does not run
ICON_OF = {
    "attention": "error",
    "stopped": "disconnected",
    "retrying": "disconnected",
    "paused": "paused",
    "syncing": "syncing",
    "idle": "idle",
}


def panel_variant() -> str:
    """'dark' when the desktop's panels are dark (light text), else 'light'."""
    app = QGuiApplication.instance()
    if isinstance(app, QGuiApplication):
        text = app.palette().color(QPalette.ColorRole.WindowText)
        if QColor(text).lightness() > 128:
            return "dark"
    return "light"


@cache
def _tray_icon(state: str, variant: str) -> QIcon:
    icon = QIcon()
    for path in tray_icon_paths(state, variant):
        icon.addFile(str(path))
    return icon


def tray_icon(state: str, variant: str | None = None) -> QIcon:
    return _tray_icon(ICON_OF.get(state, "disconnected"), variant or panel_variant())


@cache
def app_icon() -> QIcon:
    icon = QIcon()
    for path in app_icon_paths():
        icon.addFile(str(path))
    return icon
