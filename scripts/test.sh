#!/usr/bin/env bash
# Set up (first time) and run the test suite. Arguments go to pytest.
# System packages the tests use (a real Secret Service for the keyring tests, Qt's
# libraries) are installed with apt when this runs as root on Debian/Ubuntu; otherwise the
# tests that need them are skipped with a reason.
#
#   scripts/test.sh --windows [PYTEST ARGS]   the Windows lane under Wine instead
#       (build/windows/ci.sh): with no arguments all of it - the suite, the tray, the
#       bundle and the installer; with arguments only the suite, given those arguments
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = "--windows" ]; then
  shift
  if [ $# -gt 0 ]; then exec bash "$ROOT/build/windows/ci.sh" test -- "$@"; fi
  exec bash "$ROOT/build/windows/ci.sh"
fi
source "$ROOT/scripts/setup.sh"

# a Secret Service; Qt offscreen; Xvfb + a tray host (trayer) + Qt's xcb plugin for the
# real-tray test (tests/xdisplay.py lists why each is there); desktop-file-validate for the
# autostart entry; objdump (binutils) for PyInstaller in build/linux/build.sh
APT_PACKAGES=(dbus dbus-x11 gnome-keyring desktop-file-utils binutils
              libgl1 libegl1 libxkbcommon0 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3
              xvfb trayer libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4
              libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxkbcommon-x11-0
              libxcb-randr0 libxcb-render0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0
              libxcb-xkb1)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
# A real Secret Service for the keyring tests: a private D-Bus session with an unlocked
# gnome-keyring in it, gone when the tests end.
if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1 \
   && [ -z "${BRIDGE_TEST_NO_KEYRING:-}" ]; then
  export BRIDGE_TEST_HOME="$(mktemp -d)"
  exec dbus-run-session -- bash -c '
    export HOME="$BRIDGE_TEST_HOME" XDG_DATA_HOME="$BRIDGE_TEST_HOME/.local/share"
    mkdir -p "$XDG_DATA_HOME"
    echo -n "bridge-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    export BRIDGE_TEST_SECRET_SERVICE=1
    exec .venv/bin/python -m pytest "$@"' bash "$@"
fi
exec .venv/bin/python -m pytest "$@"
