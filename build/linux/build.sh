#!/usr/bin/env bash
# Build the Linux bundle and prove it works:
#   1. the venv (scripts/setup.sh: creates .venv, installs Bridge with PyInstaller);
#   2. PyInstaller with bridge.spec -> dist/bridge/ (work files in build/work/);
#   3. checks: no GTK library in the bundle, icons and translations inside;
#   4. dist/bridge/bridge --selftest (offscreen: the demo's simulators and the real engine;
#      exit 0 when an order and a stock update went through);
#   5. the selftest again in a private D-Bus session with gnome-keyring (when installed):
#      the bundle must find and accept the Secret Service backend;
#   6. prints the bundle's size, its number of files, the selftest's time and the tray
#      app's start-up time (offscreen demo, process start to "main window shown").
# Exits non-zero on any failure. Used by .ci/run after the test suite.
#   build/linux/build.sh [--no-clean]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
source scripts/setup.sh

if ! command -v objdump >/dev/null 2>&1; then
  # PyInstaller reads shared libraries' dependencies with objdump (binutils)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing binutils (objdump, for PyInstaller)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils \
      >/dev/null
  else
    echo "PyInstaller needs objdump: install binutils" >&2
    exit 1
  fi
fi

CLEAN=(--clean)
[ "${1:-}" = "--no-clean" ] && CLEAN=()
DIST="$ROOT/dist/bridge"
echo "== pyinstaller"
start=$(date +%s)
.venv/bin/pyinstaller --noconfirm "${CLEAN[@]}" --log-level WARN \
  --workpath build/work --distpath dist bridge.spec
echo "built in $(( $(date +%s) - start )) s"

echo "== bundle checks"
fail=0
gtk=$(find "$DIST" \( -name 'libgtk*' -o -name 'libgdk-*' -o -name 'libqgtk3*' \) -print)
if [ -n "$gtk" ]; then
  echo "FAIL GTK in the bundle:"; echo "$gtk"; fail=1
else
  echo "ok   no libgtk/libgdk/libqgtk3 in the bundle"
fi
for f in _internal/resources/icons/app-256.png _internal/resources/i18n/es_AR.json; do
  if [ -f "$DIST/$f" ]; then echo "ok   $f"; else echo "FAIL missing $f"; fail=1; fi
done
[ "$fail" = 0 ] || exit 1

echo "== selftest"
export QT_QPA_PLATFORM=offscreen
# a fresh HOME: the bundle must not need anything from the build user's profile
SELFTEST_HOME="$(mktemp -d)"
trap 'rm -rf "$SELFTEST_HOME"' EXIT
run_clean() {
  HOME="$SELFTEST_HOME" XDG_CONFIG_HOME="$SELFTEST_HOME/.config" \
    XDG_DATA_HOME="$SELFTEST_HOME/.local/share" "$@"
}
t0=$(date +%s.%N)
run_clean "$DIST/bridge" --selftest
t1=$(date +%s.%N)
selftest_s=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")

# the keyring backend inside the bundle, against a real Secret Service (gnome-keyring in a
# private D-Bus session) when this machine has one
keyring_line="not checked (no dbus-run-session/gnome-keyring-daemon here)"
if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1
then
  out=$(run_clean dbus-run-session -- sh -c '
    mkdir -p "$XDG_DATA_HOME"
    echo -n bridge-build | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec "$0" --selftest' "$DIST/bridge" 2>/dev/null) || { echo "$out"; exit 1; }
  echo "$out"
  if echo "$out" | grep -q "keyring keyring.backends.SecretService.Keyring (secure)"; then
    keyring_line="SecretService found and accepted inside the bundle"
  else
    echo "FAIL the bundle did not use the Secret Service"; exit 1
  fi
fi

echo "== start-up of the tray app (offscreen demo, to 'main window shown')"
startup=$(.venv/bin/python build/linux/measure_startup.py "$DIST/bridge" --runs 3)
echo "$startup"

echo "== figures"
size=$(du -sh "$DIST" | cut -f1)
files=$(find "$DIST" -type f | wc -l)
echo "bundle $DIST: $size, $files files"
echo "--selftest: $selftest_s s from process start to exit"
echo "$startup"
echo "keyring: $keyring_line"
