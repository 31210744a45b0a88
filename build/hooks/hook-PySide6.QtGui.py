"""Replaces PyInstaller's hook for PySide6.QtGui (hooks in bridge.spec's `hookspath` take
precedence): the same collection, minus plugins Bridge must not or need not carry.

- Qt's GTK platform theme, libqgtk3: it links the build machine's GTK 3, and PyInstaller
  would then bundle libgtk-3, libgdk-3, pango, cairo, atk... from the build machine —
  libraries the merchant's desktop already has in its own matching versions, and that
  mismatched copies break. Without it Qt draws its own widgets (Fusion) and uses the
  xdg-desktop-portal theme for dialogs where there is one.
- Platforms for devices without a desktop (eglfs, linuxfb, vnc, vkkhrdisplay, minimalegl)
  and the TUIO touch plugin (network input): a tray app has no use for them, and they pull
  more libraries in. xcb, wayland, offscreen and minimal stay.
"""

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

EXCLUDED_PLUGINS = (
    "libqgtk3",
    "libqeglfs",
    "libqlinuxfb",
    "libqminimalegl",
    "libqvkkhrdisplay",
    "libqvnc",
    "libqtuiotouchplugin",
)

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [
    (src, dest)
    for src, dest in binaries
    if not src.replace("\\", "/").rsplit("/", 1)[-1].startswith(EXCLUDED_PLUGINS)
]
